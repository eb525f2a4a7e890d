package io.sparkformer.model.bench;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import io.sparkformer.model.text.BpeTokenizer;
import io.sparkformer.model.text.BpeTrainer;
import io.sparkformer.model.text.ByteLevel;
import io.sparkformer.model.text.HuggingFaceTokenizer;

/**
 * Tokenizing speed, one thread: the native library (DJL, batch calls) and the pure-Java encoder
 * each encode every line, several times; medians in MB/s and tokens/s, with their ratio. Either
 * on the Multi30k de-en train pair (3.9 MB), with a byte-level BPE of 8000 trained on it
 * (argument: the multi30k directory, default ../shared/datasets/multi30k), or on the first MB
 * of a large corpus with the tokenizer.json prepare trained on it (arguments: FILE TOKENIZER [MB]).
 */
public final class TokenizeBenchmark {
    public static void main(String[] args) throws Exception {
        List<String> lines = new ArrayList<>();
        BpeTokenizer java;
        if (args.length >= 2) {
            // a large corpus's first MB (default 100) and the BPE prepare trained on it
            long limit = (long) (Double.parseDouble(args.length > 2 ? args[2] : "100") * 1e6);
            long read = 0;
            try (var in = Files.newBufferedReader(Path.of(args[0]), StandardCharsets.UTF_8)) {
                for (String l; read < limit && (l = in.readLine()) != null; ) {
                    lines.add(l);
                    read += l.getBytes(StandardCharsets.UTF_8).length + 1;
                }
            }
            java = BpeTokenizer.fromJson(Files.readAllBytes(Path.of(args[1])), args[1]);
        } else {
            Path dir = Path.of(args.length > 0 ? args[0] : "../shared/datasets/multi30k");
            lines.addAll(Files.readAllLines(dir.resolve("train.de"), StandardCharsets.UTF_8));
            lines.addAll(Files.readAllLines(dir.resolve("train.en"), StandardCharsets.UTF_8));
            Map<String, Long> counts = new HashMap<>();
            for (String l : lines) {
                for (String p : ByteLevel.split(l)) {
                    counts.merge(p, 1L, Long::sum);
                }
            }
            long t0 = System.nanoTime();
            java = BpeTrainer.train(counts, 8000, 2);
            System.out.printf("trained BPE: %d pieces, %d merges, %.2f s%n", counts.size(), java.mergeCount(), (System.nanoTime() - t0) / 1e9);
        }
        long bytes = lines.stream().mapToLong(l -> l.getBytes(StandardCharsets.UTF_8).length + 1).sum();
        int rounds = args.length >= 2 ? 3 : 5;
        try (HuggingFaceTokenizer hf = HuggingFaceTokenizer.fromJson(java.toJson(), "bench")) {
            double[] nat = new double[rounds];
            double[] jv = new double[rounds];
            long tokens = 0;
            for (int r = -1; r < rounds; r++) {
                long a = System.nanoTime();
                long n = 0;
                for (int from = 0; from < lines.size(); from += 4096) {
                    for (int[] ids : hf.encodeAll(lines.subList(from, Math.min(lines.size(), from + 4096)))) {
                        n += ids.length;
                    }
                }
                long b = System.nanoTime();
                // a fresh encoder each round, so its piece cache starts cold like the native one's
                BpeTokenizer cold = BpeTokenizer.fromJson(java.toJson(), "bench");
                long m = 0;
                for (String l : lines) {
                    m += cold.encode(l).length;
                }
                long c = System.nanoTime();
                if (n != m) {
                    throw new IllegalStateException("encoders disagree: " + n + " vs " + m + " tokens");
                }
                tokens = n;
                if (r >= 0) {
                    nat[r] = (b - a) / 1e9;
                    jv[r] = (c - b) / 1e9;
                }
            }
            Arrays.sort(nat);
            Arrays.sort(jv);
            double mb = bytes / 1e6;
            System.out.printf("%d lines, %.2f MB, %d tokens%n", lines.size(), mb, tokens);
            double n = nat[rounds / 2];
            double j = jv[rounds / 2];
            System.out.printf("native (DJL, batches of 4096): %.3f s, %.1f MB/s, %.0f tokens/s%n", n, mb / n, tokens / n);
            System.out.printf("pure Java:                     %.3f s, %.1f MB/s, %.0f tokens/s%n", j, mb / j, tokens / j);
            System.out.printf("RESULT native_mb_per_s=%.1f java_mb_per_s=%.1f ratio=%.2f%n", mb / n, mb / j, j / n);
        }
    }
}
