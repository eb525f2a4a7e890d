package io.sparkformer.model.bench;

import java.util.Arrays;
import java.util.Random;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import io.sparkformer.model.Batch;
import io.sparkformer.model.Nd4jRuntime;
import io.sparkformer.model.Transformer;
import io.sparkformer.model.TransformerConfig;
import io.sparkformer.model.layers.Ops;
import io.sparkformer.model.optim.AdamW;
import io.sparkformer.model.optim.GradientClipping;

/**
 * nanoGPT's CPU setting (decoder, 4 layers, 4 heads, 128 wide, block 64, batch 12, vocab 65) on
 * random tokens: full training steps (forward, backward, clipping, AdamW). Prints the median step
 * time and ND4J's own GEMM rate measured in the same process, ending with one RESULT line.
 *
 * <p>Arguments: [steps] [warmup]; defaults 60 and 10.
 */
public final class GptCpuBenchmark {
    public static void main(String[] args) {
        int steps = args.length > 0 ? Integer.parseInt(args[0]) : 60;
        int warmup = args.length > 1 ? Integer.parseInt(args[1]) : 10;
        String ext = Nd4jRuntime.init();
        // the process's cores for this one task, as a one-worker job gets them (OMP_NUM_THREADS)
        io.sparkformer.model.NativeThreads.apply(io.sparkformer.model.NativeThreads.blasThreads());
        int batch = 12;
        int block = 64;
        TransformerConfig cfg = new TransformerConfig(TransformerConfig.Kind.DECODER, 65, 128, 4, 4, 512, block,
                TransformerConfig.Norm.PRE, TransformerConfig.Positional.LEARNED, TransformerConfig.Activation.GELU,
                false, 1e-5, 0, 0.0);
        Transformer model = new Transformer(cfg, DataType.FLOAT);
        model.initialize(1337);
        AdamW adamw = new AdamW(model.layout(), DataType.FLOAT, new AdamW.Settings(0.9, 0.99, 1e-8, 0.1));
        Random rnd = new Random(1);
        double[] ms = new double[steps];
        double[] fwd = new double[steps];
        double[] bwd = new double[steps];
        double[] opt = new double[steps];
        double[] gemm = new double[steps];
        double loss = 0;
        Ops.timeGemms(true);
        for (int s = -warmup; s < steps; s++) {
            Batch b = randomBatch(rnd, batch, block, cfg.vocabSize());
            long g0 = Ops.gemmNanos();
            long t0 = System.nanoTime();
            loss = model.forward(b, true);
            long tf = System.nanoTime();
            model.backward();
            long tb = System.nanoTime();
            GradientClipping.clip(model.gradients(), 1.0);
            adamw.apply(model.parameters(), model.gradients(), 1e-3);
            long t1 = System.nanoTime();
            if (s >= 0) {
                ms[s] = (t1 - t0) / 1e6;
                fwd[s] = (tf - t0) / 1e6;
                bwd[s] = (tb - tf) / 1e6;
                opt[s] = (t1 - tb) / 1e6;
                gemm[s] = (Ops.gemmNanos() - g0) / 1e6;
            }
        }
        double msPerStep = median(ms);
        double tokensPerS = batch * block / (msPerStep / 1000.0);
        double gflops = gemmGflops(batch * block, 128, 512);
        long params = model.parameterCount();
        double mfu = 6.0 * params * tokensPerS / (gflops * 1e9);
        System.out.printf("CPU %s; native build: linux-x86_64%s, BLAS %s, %d threads, params %d, last loss %.4f"
                        + " (random tokens: ln 65 = %.4f)%n",
                cpuModel(), ext, Nd4jRuntime.blasDescription(), io.sparkformer.model.NativeThreads.blasThreads(), params, loss, Math.log(65));
        System.out.printf("step ms: median %.1f, min %.1f, max %.1f over %d steps%n", msPerStep,
                Arrays.stream(ms).min().orElse(0), Arrays.stream(ms).max().orElse(0), steps);
        System.out.printf("median ms: forward %.1f, backward %.1f, clip+adamw %.1f; of the step, GEMMs %.1f and the rest %.1f%n",
                median(fwd), median(bwd), median(opt), median(gemm), msPerStep - median(gemm));
        System.out.printf("RESULT tokens_per_s=%.0f ms_per_step=%.1f gemm_ms=%.1f other_ms=%.1f forward_ms=%.1f backward_ms=%.1f"
                        + " optimizer_ms=%.1f gemm_gflops=%.1f mfu=%.3f%n",
                tokensPerS, msPerStep, median(gemm), msPerStep - median(gemm), median(fwd), median(bwd), median(opt), gflops, mfu);
    }

    static String cpuModel() {
        try {
            return java.nio.file.Files.readAllLines(java.nio.file.Path.of("/proc/cpuinfo")).stream()
                    .filter(l -> l.startsWith("model name")).map(l -> l.substring(l.indexOf(':') + 1).trim()).findFirst().orElse("?");
        } catch (java.io.IOException e) {
            return "?";
        }
    }

    static Batch randomBatch(Random rnd, int b, int t, int vocab) {
        int[] seq = new int[b * (t + 1)];
        for (int i = 0; i < seq.length; i++) {
            seq[i] = rnd.nextInt(vocab);
        }
        int[] ids = new int[b * t];
        int[] target = new int[b * t];
        for (int r = 0; r < b; r++) {
            System.arraycopy(seq, r * (t + 1), ids, r * t, t);
            System.arraycopy(seq, r * (t + 1) + 1, target, r * t, t);
        }
        // random ids may include the pad id 0; keep the benchmark's masks those of an unpadded batch
        for (int i = 0; i < ids.length; i++) {
            if (ids[i] == 0) {
                ids[i] = 1;
            }
        }
        return Batch.of(b, t, ids, target);
    }

    /** Median rate of the layers' GEMM (Ops.mm) on the model's widest projection, [rows, d] x [d, ff]. */
    static double gemmGflops(int rows, int d, int ff) {
        INDArray a = Nd4j.rand(DataType.FLOAT, rows, d);
        INDArray b = Nd4j.rand(DataType.FLOAT, d, ff);
        INDArray c = Nd4j.create(DataType.FLOAT, rows, ff);
        double[] rates = new double[200];
        for (int i = -20; i < rates.length; i++) {
            long t0 = System.nanoTime();
            Ops.mm(a, b, c, false, false, 1.0, 0.0);
            long t1 = System.nanoTime();
            if (i >= 0) {
                rates[i] = 2.0 * rows * d * ff / (t1 - t0);
            }
        }
        return median(rates);
    }

    static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }
}
