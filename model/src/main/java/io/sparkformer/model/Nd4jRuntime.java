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
 * OpenBLAS and Intel MKL (JavaCPP loads mkl_rt under OpenBLAS's name) ran a GEMM faster on this
 * CPU ({@link BlasChoice}); {@code openblas} or {@code mkl} fixes it, as does the environment
 * variable SPARKFORMER_BLAS when the property is not set.
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
            boolean mkl = Nd4jRuntime.class.getClassLoader().getResource(MKL_LIBRARY) != null;
            boolean useMkl = switch (want) {
                case "openblas" -> false;
                case "mkl" -> {
                    if (!mkl) {
                        throw new IllegalStateException("-D" + BLAS_PROPERTY + "=mkl, but MKL (" + MKL_LIBRARY
                                + ") is not on the class path");
                    }
                    yield true;
                }
                case "auto" -> mkl && isCpuBackendPresent() && BlasChoice.choose(isIntel()).equals("mkl");
                default -> throw new IllegalArgumentException("-D" + BLAS_PROPERTY + " (or " + BLAS_ENV + ") must be auto, openblas or mkl, got '"
                        + want + "'");
            };
            if (useMkl) {
                System.setProperty(BLAS_LOAD_PROPERTY, "mkl_rt");
            }
        }
        LOG.debug("ND4J native build: linux-x86_64{}, BLAS {}", chosen, blasDescription());
        return chosen;
    }

    static final String MKL_LIBRARY = "org/bytedeco/mkl/linux-x86_64/libmkl_rt.so.2";

    /** "mkl" or "openblas": what ND4J's GEMMs run on once loaded. */
    public static String blas() {
        return "mkl_rt".equals(System.getProperty(BLAS_LOAD_PROPERTY)) ? "mkl" : "openblas";
    }

    /** The BLAS, and OpenBLAS's kernel set when it runs ("openblas (SkylakeX kernels)"). */
    public static String blasDescription() {
        String kernels = OpenBlasKernels.loaded().orElse(OpenBlasKernels.current());
        return blas().equals("openblas") ? "openblas (" + (kernels.isEmpty() ? "its own pick of" : kernels) + " kernels)" : blas();
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
