package io.sparkformer.driver;

import java.lang.management.ManagementFactory;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import io.sparkformer.model.Nd4jRuntime;

/** The command line of a JVM of its own that runs the CLI, for tests that kill or halt one. */
final class CliJvm {
    /**
     * The flags of a job of seconds: C2's compiler threads cost more CPU than they save (7 s of CPU
     * a job instead of 13), the serial collector has no concurrent threads beside two of these JVMs
     * on two cores (about 1 s of CPU a job), and OpenBLAS is the BLAS ND4J loads anyway (loading
     * MKL costs 1-2 s of CPU a JVM; these tests are about files, not kernels).
     */
    static final List<String> QUICK = List.of("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC",
            "-D" + Nd4jRuntime.BLAS_PROPERTY + "=openblas");

    private CliJvm() {}

    /**
     * java with this JVM's flags: Spark's --add-opens list, and with {@code limits} its heap and
     * JavaCPP limits as well.
     */
    static List<String> java(boolean limits) {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        for (String a : ManagementFactory.getRuntimeMXBean().getInputArguments()) {
            if (a.startsWith("--") || a.startsWith("-XX:+Ignore") || limits && (a.startsWith("-Xmx") || a.startsWith("-Dorg.bytedeco"))) {
                cmd.add(a);
            }
        }
        return cmd;
    }

    /** The class path, the CLI's main class and {@code args}: what follows the JVM's flags. */
    static List<String> cli(List<String> args) {
        List<String> out = new ArrayList<>(List.of("-cp",
                System.getProperty("surefire.test.class.path", System.getProperty("java.class.path")), Cli.class.getName()));
        out.addAll(args);
        return out;
    }
}
