package io.sparkformer.worker.batches;

import io.sparkformer.model.TransformerConfig.Kind;

/**
 * What a job trains the model to do, and so how its corpus is shaped: one token stream (the
 * language models) or pairs of examples (the rest).
 */
public enum Task {
    /** Next token over windows of a stream (nanoGPT's). */
    CAUSAL_LM(Kind.DECODER),
    /** BERT's masked tokens over windows of a stream. */
    MASKED_LM(Kind.ENCODER),
    /** Source sentence to target sentence. */
    SEQ2SEQ(Kind.ENCODER_DECODER),
    /** One label per input token. */
    TAGGING(Kind.ENCODER),
    /** A prompt, then the completion the loss is scored on. */
    COMPLETION(Kind.DECODER),
    /** One label per text. */
    CLASSIFICATION(null);

    private final Kind trains;

    Task(Kind trains) {
        this.trains = trains;
    }

    public boolean isStream() { return this == CAUSAL_LM || this == MASKED_LM; }

    /**
     * True when a model of this kind can learn the task: its own kind, an lstm for a decoder's
     * task (it reads left to right), and for classification an encoder, a decoder or an lstm.
     */
    public boolean fits(Kind kind) {
        if (this == CLASSIFICATION) {
            return kind != Kind.ENCODER_DECODER;
        }
        return kind == trains || (kind == Kind.LSTM && trains == Kind.DECODER);
    }

    /** What fits, in words, for an error message. */
    public String modelsThatFit() {
        return this == CLASSIFICATION ? "an encoder, a decoder or an lstm"
                : "a " + key(trains) + (trains == Kind.DECODER ? " (or lstm)" : "") + " model";
    }

    /** The config's spelling: causal_lm, masked_lm, ... */
    public String key() { return key(this); }

    private static String key(Enum<?> e) { return e.name().toLowerCase(java.util.Locale.ROOT); }
}
