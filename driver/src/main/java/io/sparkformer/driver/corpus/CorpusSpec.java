package io.sparkformer.driver.corpus;

import java.util.List;

import io.sparkformer.worker.batches.Task;

/**
 * What to turn into token shards, and how.
 *
 * @param task        causal_lm or masked_lm (documents: one token stream); seq2seq, tagging (input and
 *                    labels, token for token), completion (prompt and completion) or classification
 *                    (text and its label): pairs
 * @param inputs      stream tasks: Hadoop paths or globs of text files. Pair tasks: one source file,
 *                    one target file (line i translates line i), or one TSV file (source TAB target)
 * @param validation  validation files in the same form as inputs (empty: none; stream tasks then
 *                    hold out validationFraction of the stream)
 * @param validationFraction stream tasks without validation files: the last fraction of the stream validates
 * @param tokenizer   char, bpe (trained on the corpus) or a path to a tokenizer.json
 * @param bpeVocabSize vocabulary size for bpe, specials and bytes included
 * @param skipInvalidUtf8 true: skip and count lines that are not UTF-8; false: fail naming the file
 * @param output      directory (any Hadoop FS) for the shards and manifest
 * @param splitBytes  the largest input split, one shard each (Hadoop's block size by default)
 * @param format      text (lines of text files; pairs from two files or one TSV), tsv, or a source
 *                    Spark SQL reads: parquet, orc, json (inputs are paths) or table (inputs are
 *                    catalog table names)
 * @param columns     for Spark SQL sources: the text column, or a pair's source and target columns
 * @param header      TSV and pair files: each file's first line names the columns and is skipped
 */
public record CorpusSpec(Task task, List<String> inputs, List<String> validation, double validationFraction,
                         String tokenizer, int bpeVocabSize, boolean skipInvalidUtf8, String output, long splitBytes,
                         Format format, List<String> columns, boolean header) {
    public static final long DEFAULT_SPLIT_BYTES = 128L << 20;

    public CorpusSpec(Task task, List<String> inputs, List<String> validation, double validationFraction,
                      String tokenizer, int bpeVocabSize, boolean skipInvalidUtf8, String output) {
        this(task, inputs, validation, validationFraction, tokenizer, bpeVocabSize, skipInvalidUtf8, output, DEFAULT_SPLIT_BYTES,
                Format.TEXT, List.of(), false);
    }

    public boolean isTable() { return format.isTable(); }

    /** data.format: text files, one TSV file of pairs, or a source read through Spark SQL. */
    public enum Format {
        TEXT, TSV, PARQUET, ORC, JSON, TABLE;

        /** Read through Spark SQL: parquet, orc, json files, or catalog tables. */
        public boolean isTable() { return this == PARQUET || this == ORC || this == JSON || this == TABLE; }

        /** The config's spelling, which is also Spark SQL's name of the source. */
        public String key() { return name().toLowerCase(java.util.Locale.ROOT); }
    }

    public CorpusSpec {
        if (task == null) {
            throw new CorpusException("data.task: must be causal_lm, masked_lm, seq2seq, tagging, completion or classification");
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
        if (splitBytes < 1 << 16) {
            throw new CorpusException("data.split_mb: must be positive");
        }
        if (format == null) {
            throw new CorpusException("data.format: must be text, tsv, parquet, orc, json or table");
        }
        columns = columns == null ? List.of() : List.copyOf(columns);
        if (format.isTable() && columns.size() != (task.isStream() ? 1 : 2)) {
            throw new CorpusException("data.column: " + format.key() + " input needs " + (task.isStream() ? "the text column"
                    : "data.column and data.target_column (the source and target columns)"));
        }
        if (format == Format.TSV && (inputs.size() != 1 || task.isStream())) {
            throw new CorpusException("data.format: tsv takes one file of source TAB target lines, for a pair task");
        }
        validation = validation == null ? List.of() : List.copyOf(validation);
        inputs = List.copyOf(inputs);
    }
}
