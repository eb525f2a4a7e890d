package io.sparkformer.model;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.CodeSource;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;

import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.openblas.global.openblas_nolapack;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Which library runs the float GEMMs when OpenBLAS, MKL and oneDNN are on the class path: the
 * fastest on this CPU, measured once and remembered. The vendor's name is a poor guide (MKL's
 * GEMM ran at half OpenBLAS's rate on an AMD EPYC with AVX-512, at about its rate on a Zen 3, and
 * at 1.5-2x on a recent Xeon; oneDNN's, which follows the instruction set alone, at twice
 * OpenBLAS's on that EPYC when OpenBLAS was held to its Haswell kernels), and MKL and OpenBLAS
 * cannot share a process (JavaCPP loads either under OpenBLAS's name), so each is timed in a
 * child JVM of its own, one thread, on a training step's GEMM shapes, twice each. The result is kept in {@code ~/.cache/sparkformer/} under a key made of the
 * CPU's model and flags and the two libraries' jars, so a machine measures once, in about 5 s.
 *
 * <p>On a cluster the driver decides and passes its choice to the executors (see the driver's
 * ExecutorSettings): every task of a job runs the same BLAS, which bit-equality needs.
 */
public final class BlasChoice {
    private static final Logger LOG = LoggerFactory.getLogger(BlasChoice.class);
    static final String CACHE_DIR_PROPERTY = "sparkformer.cacheDir";
    /**
     * Below this ratio of rates the vendor's default stands (MKL on Intel, OpenBLAS elsewhere):
     * on a shared machine two timings of the same library differ by 10-20%, and the differences
     * worth acting on are 2-5x (OpenBLAS on CPUs it does not know, MKL on AMD's AVX-512).
     */
    static final double MARGIN = 1.25;

    private BlasChoice() {}

    /** GEMM rates (GFLOP/s, one thread) of the libraries on this CPU; 0 for one not on the class path. */
    public record Rates(double openblas, double mkl, double onednn) {
        /**
         * "mkl", "openblas" or "onednn": the fastest, unless it is within {@link #MARGIN} of the
         * vendor's default (MKL on Intel, OpenBLAS elsewhere).
         */
        public String faster(boolean intel) {
            String vendor = intel && mkl > 0 ? "mkl" : "openblas";
            String best = "openblas";
            if (rate(best) < mkl) {
                best = "mkl";
            }
            if (rate(best) < onednn) {
                best = "onednn";
            }
            return rate(best) > rate(vendor) * MARGIN ? best : vendor;
        }

        double rate(String library) {
            return switch (library) {
                case "mkl" -> mkl;
                case "onednn" -> onednn;
                default -> openblas;
            };
        }
    }

    /** The remembered or newly measured choice; the vendor's default if measuring fails. */
    static String choose(boolean intel) {
        Path cache = cacheFile();
        Rates rates = cache == null ? null : read(cache);
        if (rates == null) {
            try {
                // best of two, alternated: a busy neighbour slows one timing, not both
                boolean mkl = present(Nd4jRuntime.MKL_LIBRARY);
                boolean onednn = present(Nd4jRuntime.ONEDNN_LIBRARY);
                double[] best = new double[3];
                for (int round = 0; round < 2; round++) {
                    best[0] = Math.max(best[0], measure(null));
                    best[1] = mkl ? Math.max(best[1], measure("mkl_rt")) : 0;
                    best[2] = onednn ? Math.max(best[2], measure(ONEDNN)) : 0;
                }
                rates = new Rates(best[0], best[1], best[2]);
            } catch (IOException | RuntimeException e) {
                LOG.warn("could not time the BLAS libraries ({}); using {}", e.getMessage(), intel ? "MKL" : "OpenBLAS");
                return intel ? "mkl" : "openblas";
            }
            if (cache != null) {
                write(cache, rates);
            }
        }
        String choice = rates.faster(intel);
        LOG.info("BLAS {}: GEMM at {} GFLOP/s on OpenBLAS, {} on MKL, {} on oneDNN (one thread{})", choice,
                Math.round(rates.openblas()), Math.round(rates.mkl()), Math.round(rates.onednn()),
                cache == null ? "" : "; " + cache);
        return choice;
    }

    // ------------------------------------------------------------------ the child JVM

    /** {@link #measure}'s name for oneDNN's GEMM, which runs beside OpenBLAS. */
    static final String ONEDNN = "onednn";

    private static boolean present(String resource) {
        return BlasChoice.class.getClassLoader().getResource(resource) != null;
    }

    /**
     * Times one library in a child JVM; {@code load} is JavaCPP's library switch (null: OpenBLAS),
     * or {@link #ONEDNN}.
     */
    static double measure(String load) throws IOException {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.add("-Xmx256m");
        boolean onednn = ONEDNN.equals(load);
        if (load != null && !onednn) {
            cmd.add("-D" + Nd4jRuntime.BLAS_LOAD_PROPERTY + "=" + load);
        }
        String cacheDir = System.getProperty("org.bytedeco.javacpp.cachedir");
        if (cacheDir != null) {
            cmd.add("-Dorg.bytedeco.javacpp.cachedir=" + cacheDir);
        }
        cmd.add("-cp");
        cmd.add(String.join(java.io.File.pathSeparator, classPath()));
        cmd.add(BlasChoice.class.getName());
        if (onednn) {
            cmd.add(ONEDNN);
        }
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        for (String v : List.of("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")) {
            pb.environment().put(v, "1");
        }
        // the kernels this process named for OpenBLAS (setenv does not reach Java's copy of the environment)
        if (!OpenBlasKernels.current().isEmpty()) {
            pb.environment().put(OpenBlasKernels.ENV, OpenBlasKernels.current());
        }
        Process p = pb.start();
        String out;
        try (InputStream in = p.getInputStream()) {
            out = new String(in.readAllBytes(), StandardCharsets.UTF_8);
            if (!p.waitFor(60, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new IOException("the BLAS timing did not end within 60 s");
            }
        } catch (InterruptedException e) {
            p.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while timing the BLAS");
        }
        for (String line : out.split("\n")) {
            if (line.startsWith("GFLOPS ")) {
                return Double.parseDouble(line.substring(7).trim());
            }
        }
        throw new IOException("the BLAS timing (" + (load == null ? "openblas" : load) + ") exited " + p.exitValue()
                + ": " + out.strip());
    }

    /** Where this class, JavaCPP, the OpenBLAS preset and the MKL natives come from. */
    private static Set<String> classPath() {
        Set<String> cp = new LinkedHashSet<>();
        for (Class<?> c : List.of(BlasChoice.class, Loader.class, openblas_nolapack.class, LoggerFactory.class)) {
            CodeSource src = c.getProtectionDomain().getCodeSource();
            if (src != null) {
                cp.add(path(src.getLocation()));
            }
        }
        for (String resource : List.of(Nd4jRuntime.MKL_LIBRARY, "org/bytedeco/mkl/global/mkl_rt.class",
                "org/bytedeco/openblas/linux-x86_64/libjniopenblas_nolapack.so", Nd4jRuntime.ONEDNN_LIBRARY,
                "org/bytedeco/dnnl/global/dnnl.class", "org/bytedeco/opencl/global/OpenCL.class",
                "org/bytedeco/opencl/linux-x86_64/libjniOpenCL.so")) {
            URL url = BlasChoice.class.getClassLoader().getResource(resource);
            if (url != null && "jar".equals(url.getProtocol())) {
                String s = url.getPath();
                try {
                    cp.add(path(new URL(s.substring(0, s.indexOf("!/")))));
                } catch (IOException e) {
                    LOG.debug("cannot locate {}: {}", resource, e.toString());
                }
            }
        }
        cp.addAll(List.of(System.getProperty("java.class.path").split(java.io.File.pathSeparator)));
        cp.remove("");
        return cp;
    }

    private static String path(URL url) {
        try {
            return Path.of(url.toURI()).toString();
        } catch (URISyntaxException | RuntimeException e) {
            return url.getPath();
        }
    }

    /**
     * The child's side: the median single-thread rate over the GEMMs of a small training step
     * ([768, 128] by [128, 512] as the three products a linear layer needs, and the attention
     * scores' [64, 32] by [32, 64]), as their geometric mean, on one line "GFLOPS x".
     */
    public static void main(String[] args) {
        boolean onednn = args.length > 0 && ONEDNN.equals(args[0]);
        Loader.load(onednn ? org.bytedeco.dnnl.global.dnnl.class : openblas_nolapack.class);
        double[] rates = {rate(768, 512, 128, false, false, onednn), rate(768, 128, 512, false, true, onednn),
            rate(128, 512, 768, true, false, onednn), rate(64, 64, 32, false, true, onednn)};
        double logSum = 0;
        for (double r : rates) {
            logSum += Math.log(r);
        }
        System.out.println("GFLOPS " + Math.exp(logSum / rates.length));
    }

    private static double rate(int m, int n, int k, boolean transA, boolean transB, boolean onednn) {
        try (FloatPointer a = new FloatPointer((long) m * k); FloatPointer b = new FloatPointer((long) k * n);
             FloatPointer c = new FloatPointer((long) m * n)) {
            for (long i = 0; i < (long) m * k; i++) {
                a.put(i, (i % 7) * 0.125f);
            }
            for (long i = 0; i < (long) k * n; i++) {
                b.put(i, (i % 5) * 0.25f);
            }
            int ta = transA ? openblas_nolapack.CblasTrans : openblas_nolapack.CblasNoTrans;
            int tb = transB ? openblas_nolapack.CblasTrans : openblas_nolapack.CblasNoTrans;
            int lda = transA ? m : k;
            int ldb = transB ? k : n;
            double flop = 2.0 * m * n * k;
            int reps = Math.max(20, (int) (3e9 / flop)); // about 0.05 s at 60 GFLOP/s
            double[] ns = new double[reps];
            for (int i = -reps / 4; i < reps; i++) {
                long t0 = System.nanoTime();
                if (onednn) {
                    org.bytedeco.dnnl.global.dnnl.dnnl_sgemm((byte) (transA ? 'T' : 'N'), (byte) (transB ? 'T' : 'N'), m, n, k, 1f,
                            a, lda, b, ldb, 0f, c, n);
                } else {
                    openblas_nolapack.cblas_sgemm(openblas_nolapack.CblasRowMajor, ta, tb, m, n, k, 1f, a, lda, b, ldb, 0f, c, n);
                }
                long t1 = System.nanoTime();
                if (i >= 0) {
                    ns[i] = t1 - t0;
                }
            }
            java.util.Arrays.sort(ns);
            return flop / ns[reps / 2];
        }
    }

    // ------------------------------------------------------------------ the cache

    private static Path cacheFile() {
        String dir = System.getProperty(CACHE_DIR_PROPERTY);
        Path base = dir != null ? Path.of(dir)
                : System.getenv("XDG_CACHE_HOME") != null ? Path.of(System.getenv("XDG_CACHE_HOME"), "sparkformer")
                : Path.of(System.getProperty("user.home"), ".cache", "sparkformer");
        return base.resolve("blas-" + key() + ".properties");
    }

    /** The CPU's model and flags and the libraries' jars: what the rates depend on. */
    static String key() {
        StringBuilder what = new StringBuilder(Nd4jRuntime.cpuModel()).append('\n');
        what.append("OpenBLAS kernels ").append(OpenBlasKernels.current()).append('\n');
        what.append(String.join(" ", new TreeSet<>(Nd4jRuntime.cpuFlags()))).append('\n');
        for (String entry : classPath()) {
            String name = Path.of(entry).getFileName() == null ? entry : Path.of(entry).getFileName().toString();
            if (name.contains("openblas") || name.contains("mkl") || name.contains("dnnl")) {
                what.append(name).append('\n');
            }
        }
        try {
            byte[] digest = MessageDigest.getInstance("SHA-256").digest(what.toString().getBytes(StandardCharsets.UTF_8));
            return HexFormat.of().formatHex(digest, 0, 8);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    static Rates read(Path file) {
        if (!Files.isRegularFile(file)) {
            return null;
        }
        Properties p = new Properties();
        try (InputStream in = Files.newInputStream(file)) {
            p.load(in);
            // a file from before oneDNN was timed has no onednn_gflops: parseDouble(null) throws, and it is measured again
            return new Rates(Double.parseDouble(p.getProperty("openblas_gflops")), Double.parseDouble(p.getProperty("mkl_gflops")),
                    Double.parseDouble(p.getProperty("onednn_gflops")));
        } catch (IOException | RuntimeException e) {
            LOG.warn("ignoring the unreadable BLAS timing {} ({}); measuring again", file, e.toString());
            return null;
        }
    }

    /** Temp file, then rename: a reader never sees half a file. A failure only costs a re-measure. */
    static void write(Path file, Rates rates) {
        Properties p = new Properties();
        p.setProperty("openblas_gflops", Double.toString(rates.openblas()));
        p.setProperty("mkl_gflops", Double.toString(rates.mkl()));
        p.setProperty("onednn_gflops", Double.toString(rates.onednn()));
        p.setProperty("cpu", Nd4jRuntime.cpuModel());
        try {
            Files.createDirectories(file.getParent());
            Path tmp = Files.createTempFile(file.getParent(), file.getFileName().toString(), ".tmp");
            try (OutputStream out = Files.newOutputStream(tmp)) {
                p.store(out, "single-thread GEMM rates, GFLOP/s, measured by io.sparkformer.model.BlasChoice");
            }
            Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            LOG.debug("cannot remember the BLAS timing in {}: {}", file, e.toString());
        }
    }
}
