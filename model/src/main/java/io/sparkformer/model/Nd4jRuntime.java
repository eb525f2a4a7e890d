package io.sparkformer.model;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Chooses ND4J's native CPU build and the BLAS behind its GEMMs, before ND4J loads.
 *
 * <p>The project ships libnd4j's avx2 build; a build the CPU lacks dies with SIGILL instead of
 * an exception, so the choice comes from the CPU's own flags (an avx512 build added to the class
 * path is taken on CPUs that have AVX-512) and must happen before the first ND4J class touches
 * native code. Every entry point that uses ND4J calls {@link #init()} first. On the CUDA backend
 * the property is ignored.
 *
 * <p>The BLAS: {@code -Dsparkformer.blas=auto} (the default) takes whichever of the bundled
 * OpenBLAS, Intel MKL (JavaCPP loads mkl_rt under OpenBLAS's name) and oneDNN's GEMM ran a GEMM
 * fastest on this CPU ({@link BlasChoice}); {@code openblas}, {@code mkl} or {@code onednn} fixes
 * it, as does the environment variable SPARKFORMER_BLAS when the property is not set.
 */
public final class Nd4jRuntime {
    private static final Logger LOG = LoggerFactory.getLogger(Nd4jRuntime.class);
    /** JavaCPP's switch for which platform build of a native library to load. */
    public static final String EXTENSION_PROPERTY = "org.bytedeco.javacpp.platform.extension";
    private static final String BINDINGS = "org/nd4j/linalg/cpu/nativecpu/bindings/";
    /** JavaCPP's switch for which library its OpenBLAS preset loads. */
    public static final String BLAS_LOAD_PROPERTY = "org.bytedeco.openblas.load";
    public static final String BLAS_PROPERTY = "sparkformer.blas";
    /** The same switch as an environment variable (how the driver hands its choice to executors). */
    public static final String BLAS_ENV = "SPARKFORMER_BLAS";

    private static volatile String chosen;
    private static volatile boolean onednnGemm;

    private Nd4jRuntime() {}

    /** Sets the platform extension once; an explicit -D setting by the user always wins. */
    public static synchronized String init() {
        if (chosen != null) {
            return chosen;
        }
        String preset = System.getProperty(EXTENSION_PROPERTY);
        if (preset != null) {
            chosen = preset;
        } else {
            chosen = choose(cpuFlags(), Nd4jRuntime::bundled);
            System.setProperty(EXTENSION_PROPERTY, chosen);
        }
        if (isCpuBackendPresent()) {
            OpenBlasKernels.apply();
        }
        if (System.getProperty(BLAS_LOAD_PROPERTY) == null) {
            String want = System.getProperty(BLAS_PROPERTY, System.getenv().getOrDefault(BLAS_ENV, "auto"))
                    .trim().toLowerCase(Locale.ROOT);
            boolean mkl = present(MKL_LIBRARY);
            boolean onednn = present(ONEDNN_LIBRARY);
            String use = switch (want) {
                case "openblas" -> "openblas";
                case "mkl" -> require(mkl, "mkl", MKL_LIBRARY);
                case "onednn" -> require(onednn, "onednn", ONEDNN_LIBRARY);
                case "auto" -> (mkl || onednn) && isCpuBackendPresent() ? BlasChoice.choose(isIntel()) : "openblas";
                default -> throw new ConfigException(System.getProperty(BLAS_PROPERTY) != null ? "-D" + BLAS_PROPERTY : BLAS_ENV,
                        "must be auto, openblas, mkl or onednn, got '" + want + "'");
            };
            if (use.equals("mkl")) {
                System.setProperty(BLAS_LOAD_PROPERTY, "mkl_rt");
            }
            onednnGemm = use.equals("onednn");
        }
        LOG.debug("ND4J native build: linux-x86_64{}, BLAS {}", chosen, blasDescription());
        return chosen;
    }

    static final String MKL_LIBRARY = "org/bytedeco/mkl/linux-x86_64/libmkl_rt.so.2";
    static final String ONEDNN_LIBRARY = "org/bytedeco/dnnl/linux-x86_64/libdnnl.so.2";

    private static boolean present(String resource) {
        return Nd4jRuntime.class.getClassLoader().getResource(resource) != null;
    }

    private static String require(boolean present, String name, String library) {
        if (!present) {
            throw new IllegalStateException("-D" + BLAS_PROPERTY + "=" + name + ", but " + library + " is not on the class path");
        }
        return name;
    }

    /**
     * "mkl", "openblas" or "onednn": what the model's GEMMs run on. Under "onednn" ND4J itself
     * loads OpenBLAS (its own ops and the double-precision products keep it) and layers.Gemm sends
     * the float products to oneDNN.
     */
    public static String blas() {
        if (onednnGemm) {
            return "onednn";
        }
        return "mkl_rt".equals(System.getProperty(BLAS_LOAD_PROPERTY)) ? "mkl" : "openblas";
    }

    /** The BLAS, and OpenBLAS's kernel set when it runs ("openblas (SkylakeX kernels)"). */
    public static String blasDescription() {
        String kernels = OpenBlasKernels.loaded().orElse(OpenBlasKernels.current());
        String openblas = "openblas (" + (kernels.isEmpty() ? "its own pick of" : kernels) + " kernels)";
        return switch (blas()) {
            case "openblas" -> openblas;
            case "onednn" -> "onednn (float GEMMs; ND4J's own ops on " + openblas + ")";
            default -> blas();
        };
    }

    /** The CPU's model name from /proc/cpuinfo, or "unknown". */
    static String cpuModel() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/cpuinfo"))) {
                if (line.startsWith("model name")) {
                    return line.substring(line.indexOf(':') + 1).trim();
                }
            }
        } catch (IOException | RuntimeException e) {
            LOG.debug("cannot read the CPU model: {}", e.toString());
        }
        return "unknown";
    }

    static boolean isIntel() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/cpuinfo"))) {
                if (line.startsWith("vendor_id")) {
                    return line.contains("GenuineIntel");
                }
            }
        } catch (IOException | RuntimeException e) {
            LOG.debug("cannot read the CPU vendor: {}", e.toString());
        }
        return false;
    }

    /** The best extension both supported by the CPU and present on the classpath. */
    static String choose(Set<String> flags, java.util.function.Predicate<String> bundled) {
        // libnd4j's avx512 build is compiled for the Skylake-X feature set.
        if (flags.containsAll(List.of("avx512f", "avx512bw", "avx512dq", "avx512vl", "avx512cd"))
                && bundled.test("-avx512")) {
            return "-avx512";
        }
        if (flags.containsAll(List.of("avx2", "fma")) && bundled.test("-avx2")) {
            return "-avx2";
        }
        if (bundled.test("")) {
            return "";
        }
        if (!isCpuBackendPresent()) {
            return ""; // CUDA backend: no CPU natives needed
        }
        throw new IllegalStateException("No ND4J CPU native build on the classpath fits this CPU (flags avx2="
                + flags.contains("avx2") + ", avx512f=" + flags.contains("avx512f")
                + "). Add org.nd4j:nd4j-native:" + "linux-x86_64 (generic) to the classpath.");
    }

    private static boolean isCpuBackendPresent() {
        return Nd4jRuntime.class.getClassLoader().getResource("org/nd4j/linalg/cpu/nativecpu/CpuBackend.class") != null;
    }

    private static boolean bundled(String extension) {
        return Nd4jRuntime.class.getClassLoader().getResource(BINDINGS + "linux-x86_64" + extension + "/") != null;
    }

    static Set<String> cpuFlags() {
        Set<String> flags = new HashSet<>();
        try {
            for (String line : Files.readAllLines(Path.of("/proc/cpuinfo"))) {
                if (line.toLowerCase(Locale.ROOT).startsWith("flags")) {
                    for (String f : line.substring(line.indexOf(':') + 1).trim().split("\\s+")) {
                        flags.add(f);
                    }
                    break;
                }
            }
        } catch (IOException | RuntimeException e) {
            LOG.warn("Cannot read CPU flags from /proc/cpuinfo ({}); assuming no AVX", e.toString());
        }
        return flags;
    }
}
