package io.sparkformer.model;

import java.util.function.IntSupplier;

/**
 * Whether a class of Vector API loops can run: the jdk.incubator.vector module is in the JVM
 * (--add-modules) and the class, loaded by asking its lane count, has more than one lane. The
 * loops give their scalar twins' bits, so this decides speed only.
 */
public final class VectorModule {
    private VectorModule() {}

    /** {@code lanes} loads the vector class and returns its lane count; it is not called without the module. */
    public static boolean usable(IntSupplier lanes) {
        if (ModuleLayer.boot().findModule("jdk.incubator.vector").isEmpty()) {
            return false;
        }
        try {
            return lanes.getAsInt() > 1;
        } catch (LinkageError e) {
            return false;
        }
    }
}
