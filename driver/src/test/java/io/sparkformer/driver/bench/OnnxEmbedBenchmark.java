package io.sparkformer.driver.bench;

import java.io.InputStream;
import java.nio.LongBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import dev.langchain4j.data.segment.TextSegment;
import dev.langchain4j.model.embedding.onnx.allminilml6v2.AllMiniLmL6V2EmbeddingModel;
import io.sparkformer.model.text.HuggingFaceTokenizer;

/**
 * The anchor of bench/embed-throughput.sh: ONNX Runtime running all-MiniLM-L6-v2's original
 * export (the file inside langchain4j's artifact) on SST-2's first N training phrases, two ways:
 * <ul>
 *   <li>the session itself, on the given threads, in batches of 64 sorted by length, the rows
 *       tokenized by the checkpoint's tokenizer.json, mean pooled over the real tokens and
 *       normalised as sentence-transformers does;</li>
 *   <li>langchain4j's own {@code embedAll}, one sentence per call, on a pool of the given threads.</li>
 * </ul>
 * A warm-up pass on 512 phrases comes first each time. The first rows' embeddings are written to
 * OUT (one line of numbers each), so the script can compare them with the project's.
 * Prints RESULT ort_session_sentences_per_s=X ort_embed_all_sentences_per_s=Y.
 * Usage: OnnxEmbedBenchmark SHARED_DIR N THREADS [OUT]
 */
public final class OnnxEmbedBenchmark {
    private static final int BATCH = 64;
    private static final int CHECKED_ROWS = 64;

    private OnnxEmbedBenchmark() {}

    public static void main(String[] args) throws Exception {
        Path shared = Path.of(args[0]);
        int n = Integer.parseInt(args[1]);
        int threads = Integer.parseInt(args[2]);
        List<String> lines = Files.readAllLines(shared.resolve("datasets/sst2/train.tsv"));
        List<String> texts = new ArrayList<>();
        for (String l : lines.subList(1, n + 1)) {
            texts.add(l.split("\t")[0]);
        }
        Path modelDir = shared.resolve("pretrained/all-MiniLM-L6-v2");
        HuggingFaceTokenizer tokenizer = HuggingFaceTokenizer.fromJson(Files.readAllBytes(modelDir.resolve("tokenizer.json")),
                modelDir.resolve("tokenizer.json").toString());

        OrtEnvironment env = OrtEnvironment.getEnvironment();
        byte[] onnx;
        try (InputStream in = AllMiniLmL6V2EmbeddingModel.class.getResourceAsStream("/all-minilm-l6-v2.onnx")) {
            onnx = in.readAllBytes();
        }
        OrtSession.SessionOptions options = new OrtSession.SessionOptions();
        options.setIntraOpNumThreads(threads);
        options.setInterOpNumThreads(1);
        options.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
        try (OrtSession session = env.createSession(onnx, options)) {
            embed(env, session, tokenizer, texts.subList(0, Math.min(512, n)));
            long t0 = System.nanoTime();
            float[][] vectors = embed(env, session, tokenizer, texts);
            double sessionSeconds = (System.nanoTime() - t0) / 1e9;
            System.out.printf("ONNX Runtime session: %d phrases in %.1f s on %d threads, batches of %d sorted by length%n",
                    n, sessionSeconds, threads, BATCH);
            if (args.length > 3) {
                StringBuilder out = new StringBuilder();
                for (int i = 0; i < Math.min(CHECKED_ROWS, n); i++) {
                    for (float v : vectors[i]) {
                        out.append(v).append(' ');
                    }
                    out.append('\n');
                }
                Files.writeString(Path.of(args[3]), out);
            }

            ExecutorService pool = Executors.newFixedThreadPool(threads);
            AllMiniLmL6V2EmbeddingModel model = new AllMiniLmL6V2EmbeddingModel(pool);
            model.embedAll(texts.subList(0, Math.min(512, n)).stream().map(TextSegment::from).toList());
            long t1 = System.nanoTime();
            int embedded = model.embedAll(texts.stream().map(TextSegment::from).toList()).content().size();
            double embedAllSeconds = (System.nanoTime() - t1) / 1e9;
            pool.shutdown();
            System.out.printf("langchain4j embedAll: %d phrases in %.1f s on a pool of %d threads%n", embedded, embedAllSeconds, threads);
            System.out.printf("RESULT ort_session_sentences_per_s=%.0f ort_embed_all_sentences_per_s=%.0f%n",
                    n / sessionSeconds, n / embedAllSeconds);
        }
    }

    /** Mean-pooled, normalised embeddings of {@code texts}, in their order. */
    private static float[][] embed(OrtEnvironment env, OrtSession session, HuggingFaceTokenizer tokenizer, List<String> texts)
            throws Exception {
        int[][] ids = new int[texts.size()][];
        Integer[] order = new Integer[texts.size()];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = tokenizer.encodeWithSpecialTokens(texts.get(i));
            if (ids[i].length > 256) { // sentence-transformers' max_seq_length for this model
                int[] cut = Arrays.copyOf(ids[i], 256);
                cut[255] = ids[i][ids[i].length - 1];
                ids[i] = cut;
            }
            order[i] = i;
        }
        Arrays.sort(order, (a, b) -> Integer.compare(ids[b].length, ids[a].length));
        float[][] out = new float[texts.size()][];
        for (int from = 0; from < order.length; from += BATCH) {
            int rows = Math.min(BATCH, order.length - from);
            int t = ids[order[from]].length;
            long[] input = new long[rows * t];
            long[] mask = new long[rows * t];
            for (int r = 0; r < rows; r++) {
                int[] row = ids[order[from + r]];
                for (int j = 0; j < row.length; j++) {
                    input[r * t + j] = row[j];
                    mask[r * t + j] = 1;
                }
            }
            long[] shape = {rows, t};
            try (OnnxTensor inputIds = OnnxTensor.createTensor(env, LongBuffer.wrap(input), shape);
                 OnnxTensor attention = OnnxTensor.createTensor(env, LongBuffer.wrap(mask), shape);
                 OnnxTensor types = OnnxTensor.createTensor(env, LongBuffer.wrap(new long[rows * t]), shape);
                 OrtSession.Result result = session.run(Map.of("input_ids", inputIds, "attention_mask", attention,
                         "token_type_ids", types))) {
                float[][][] hidden = (float[][][]) result.get(0).getValue();
                for (int r = 0; r < rows; r++) {
                    int len = ids[order[from + r]].length;
                    float[] v = new float[hidden[r][0].length];
                    for (int j = 0; j < len; j++) {
                        for (int k = 0; k < v.length; k++) {
                            v[k] += hidden[r][j][k];
                        }
                    }
                    double norm = 0;
                    for (int k = 0; k < v.length; k++) {
                        v[k] /= len;
                        norm += v[k] * v[k];
                    }
                    for (int k = 0; k < v.length; k++) {
                        v[k] /= (float) Math.sqrt(norm);
                    }
                    out[order[from + r]] = v;
                }
            }
        }
        return out;
    }
}
