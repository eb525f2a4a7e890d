package io.sparkformer.model;

import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodType;
import java.util.List;
import java.util.Optional;
import java.util.Set;

import jdk.incubator.foreign.CLinker;
import jdk.incubator.foreign.FunctionDescriptor;
import jdk.incubator.foreign.MemoryAddress;
import jdk.incubator.foreign.ResourceScope;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Which of its kernel sets OpenBLAS runs. The bundled OpenBLAS (0.3.19) picks them from a table
 * of CPU models and gets new CPUs wrong: it takes an AMD Zen 4 for a Zen and runs AVX2 kernels
 * (the benchmark step's GEMMs took 67 ms against 54 with its AVX-512 ones), and an Emerald Rapids
 * Xeon for a Prescott (SSE3 kernels, 9-17 GFLOP/s against 66-76). So the set is named from the
 * CPU's own flags, in the process, before OpenBLAS loads: it reads OPENBLAS_CORETYPE once, when
 * it loads. Each JVM decides for its own CPU, so executors on other machines are right too; a
 * value already in the environment wins. Setting a variable in a running JVM takes libc's
 * setenv, through the foreign linker (JVM flags {@code --add-modules=jdk.incubator.foreign
 * --enable-native-access=ALL-UNNAMED}, which the launchers and the executors' options carry);
 * without them OpenBLAS keeps its own pick and a warning says so.
 *
 * <p>Bits: the kernel set is part of what a GEMM's bits depend on, like the BLAS and its thread
 * count, so processes that must agree bit for bit apply the same rule on the same CPU.
 */
public final class OpenBlasKernels {
    private static final Logger LOG = LoggerFactory.getLogger(OpenBlasKernels.class);
    public static final String ENV = "OPENBLAS_CORETYPE";
    /** What OpenBLAS's SkylakeX kernels use (its own test for them). */
    private static final List<String> AVX512 = List.of("avx512f", "avx512bw", "avx512dq", "avx512vl", "avx512cd");

    private static volatile String applied;

    private OpenBlasKernels() {}

    /**
     * The kernel set for a CPU with these flags: the AVX-512 kernels wherever the CPU has them
     * (Cooperlake's add bfloat16 ones), Haswell's on Intel CPUs with AVX2 only; empty where
     * OpenBLAS's own pick is left alone (AMD without AVX-512: its table knows them).
     */
    static Optional<String> forCpu(Set<String> flags, boolean intel) {
        if (flags.containsAll(AVX512)) {
            return Optional.of(flags.contains("avx512_bf16") ? "Cooperlake" : "SkylakeX");
        }
        if (intel && flags.contains("avx2") && flags.contains("fma")) {
            return Optional.of("Haswell");
        }
        return Optional.empty();
    }

    /**
     * Names the kernel set for this CPU in this process's environment unless it is set already;
     * returns what OpenBLAS will read ("" for its own pick). Call before OpenBLAS loads.
     */
    static synchronized String apply() {
        if (applied != null) {
            return applied;
        }
        String preset = System.getenv(ENV);
        if (preset != null && !preset.isBlank()) {
            applied = preset;
            return applied;
        }
        Optional<String> name = forCpu(Nd4jRuntime.cpuFlags(), Nd4jRuntime.isIntel());
        applied = "";
        if (name.isPresent()) {
            String failure = NativeEnvironment.set(ENV, name.get());
            if (failure == null) {
                applied = name.get();
            } else {
                LOG.warn("OpenBLAS will pick its own kernels, maybe slower ones than its {} kernels for this CPU ({}):"
                        + " run the JVM with --add-modules=jdk.incubator.foreign --enable-native-access=ALL-UNNAMED,"
                        + " or set {}={}", name.get(), failure, ENV, name.get());
            }
        }
        return applied;
    }

    /** The kernel set this process named or found ("" for OpenBLAS's own pick); after {@link #apply}. */
    public static String current() {
        String a = applied;
        return a == null ? System.getenv().getOrDefault(ENV, "") : a;
    }

    /**
     * The kernel set the loaded OpenBLAS reports (openblas_get_corename), or empty when OpenBLAS
     * is not loaded or the foreign linker is not there: the truth, where {@link #current} is the wish.
     */
    public static Optional<String> loaded() {
        try {
            return Optional.ofNullable(Linked.coreName());
        } catch (LinkageError | RuntimeException e) {
            return Optional.empty();
        }
    }

    /** Prints the kernel set this CPU gets (for scripts that run other OpenBLAS users alike). */
    public static void main(String[] args) {
        System.out.println(forCpu(Nd4jRuntime.cpuFlags(), Nd4jRuntime.isIntel()).orElse(""));
    }

    /** libc's setenv, in a class of its own: it loads only where the foreign linker's module is. */
    private static final class NativeEnvironment {
        /** Sets the variable; returns null, or why it could not. */
        static String set(String key, String value) {
            try {
                return Linked.set(key, value);
            } catch (LinkageError | RuntimeException e) {
                return e.toString();
            }
        }
    }

    private static final class Linked {
        static String coreName() {
            if (ModuleLayer.boot().findModule("jdk.incubator.foreign").isEmpty()) {
                return null;
            }
            var symbol = jdk.incubator.foreign.SymbolLookup.loaderLookup().lookup("openblas_get_corename");
            if (symbol.isEmpty()) {
                return null;
            }
            MethodHandle corename = CLinker.getInstance().downcallHandle(symbol.get(),
                    MethodType.methodType(MemoryAddress.class), FunctionDescriptor.of(CLinker.C_POINTER));
            try {
                return CLinker.toJavaString((MemoryAddress) corename.invokeExact());
            } catch (Throwable t) {
                return null;
            }
        }

        static String set(String key, String value) {
            if (ModuleLayer.boot().findModule("jdk.incubator.foreign").isEmpty()) {
                return "the jdk.incubator.foreign module is not loaded";
            }
            CLinker linker = CLinker.getInstance();
            MethodHandle setenv = linker.downcallHandle(CLinker.systemLookup().lookup("setenv").orElseThrow(),
                    MethodType.methodType(int.class, MemoryAddress.class, MemoryAddress.class, int.class),
                    FunctionDescriptor.of(CLinker.C_INT, CLinker.C_POINTER, CLinker.C_POINTER, CLinker.C_INT));
            try (ResourceScope scope = ResourceScope.newConfinedScope()) {
                int rc = (int) setenv.invokeExact(CLinker.toCString(key, scope).address(),
                        CLinker.toCString(value, scope).address(), 0);
                return rc == 0 ? null : "setenv returned " + rc;
            } catch (Throwable t) {
                return t.toString();
            }
        }
    }
}
