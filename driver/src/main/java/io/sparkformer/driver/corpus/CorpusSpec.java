package io.sparkformer.driver.corpus;

import java.util.List;

/**
 * What to turn into token shards, and how.
 *
 * @param task        causal_lm or masked_lm (documents: one token stream); seq2seq, tagging (input and
 *                    labels, token for token) or completion (prompt and completion): pairs
 * @param inputs      stream tasks: Hadoop paths or globs of text files. Pair tasks: one source file,
 *                    one target file (line i translates line i), or one TSV file (source TAB target)
 * @param validation  validation files in the same form as inputs (empty: none; stream tasks then
 *                    hold out validationFraction of the stream)
 * @param validationFraction stream tasks without validation files: the last fraction of the stream validates
 * @param tokenizer   char, bpe (trained on the corpus) or a path to a tokenizer.json
 * @param bpeVocabSize vocabulary size for bpe, specials and bytes included
 * @param skipInvalidUtf8 true: skip and count lines that are not UTF-8; false: fail naming the file
 * @param output      directory (any Hadoop FS) for the shards and manifest
 */
public record CorpusSpec(Task task, List<String> inputs, List<String> validation, double validationFraction,
                         String tokenizer, int bpeVocabSize, boolean skipInvalidUtf8, String output) {

    public enum Task {
        CAUSAL_LM, MASKED_LM, SEQ2SEQ, TAGGING, COMPLETION;

        public boolean isStream() { return this == CAUSAL_LM || this == MASKED_LM; }
    }

    public CorpusSpec {
        if (task == null) {
            throw new CorpusException("data.task: must be causal_lm, masked_lm, seq2seq, tagging or completion");
        }
        if (inputs == null || inputs.isEmpty()) {
            throw new CorpusException("data.inputs: at least one path is needed");
        }
        if (!task.isStream() && (inputs.size() > 2 || (validation != null && validation.size() > 2))) {
            throw new CorpusException("data.inputs: " + task.name().toLowerCase(java.util.Locale.ROOT)
                    + " takes a source and a target file, or one TSV file");
        }
        if (task.isStream() && !(validationFraction >= 0 && validationFraction < 1)) {
            throw new CorpusException("data.validation_fraction: must be in [0, 1), got " + validationFraction);
        }
        if (tokenizer == null || tokenizer.isBlank()) {
            throw new CorpusException("data.tokenizer: must be char, bpe or the path of a tokenizer.json");
        }
        validation = validation == null ? List.of() : List.copyOf(validation);
        inputs = List.copyOf(inputs);
    }
}
