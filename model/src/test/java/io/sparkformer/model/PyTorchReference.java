package io.sparkformer.model;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Assumptions;

/** The plain-PyTorch references run as scripts: Debian's python3-torch (-Dpython names another); tests skip without it. */
public final class PyTorchReference {
    public static final String PYTHON = System.getProperty("python", "/usr/bin/python3");

    private PyTorchReference() {}

    /** Skips the calling test when PyTorch is not installed for {@link #PYTHON}. */
    public static void assumeInstalled() throws IOException, InterruptedException {
        Assumptions.assumeTrue(run(PYTHON, "-c", "import torch") == 0, "PyTorch not installed for " + PYTHON + "; skipping");
    }

    /** Runs a command, echoes its output, returns its exit code (-1 after two minutes). */
    public static int run(String... command) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(120, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            return -1;
        }
        if (!out.isBlank()) {
            System.out.print(out);
        }
        return p.exitValue();
    }
}
