package io.sparkformer.model;

/** A failure of a known {@link FailureKind}, whose text is marked so that it survives crossing Spark as text. */
public class TypedFailure extends RuntimeException implements FailureKind.Typed {
    private final FailureKind kind;

    public TypedFailure(FailureKind kind, String message) {
        super(message);
        this.kind = kind;
    }

    @Override
    public FailureKind kind() {
        return kind;
    }

    @Override
    public String toString() {
        return kind.mark(getMessage());
    }
}
