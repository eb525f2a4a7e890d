package io.sparkformer.model.text;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.util.Iterator;
import java.util.Map;

import ai.djl.huggingface.tokenizers.jni.TokenizersLibrary;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

/**
 * Any Hugging Face tokenizer.json, applied by the native tokenizers library that
 * ai.djl.huggingface:tokenizers ships in its jar (Linux x86_64 and aarch64, macOS). Special
 * tokens are not added on encode and are skipped on decode.
 */
public final class HuggingFaceTokenizer implements Tokenizer, AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final byte[] json;
    private final int vocabSize;
    private final SpecialTokens specials;
    private final ai.djl.huggingface.tokenizers.HuggingFaceTokenizer tokenizer;

    private HuggingFaceTokenizer(byte[] json, int vocabSize, SpecialTokens specials,
                                 ai.djl.huggingface.tokenizers.HuggingFaceTokenizer tokenizer) {
        this.json = json;
        this.vocabSize = vocabSize;
        this.specials = specials;
        this.tokenizer = tokenizer;
    }

    public static HuggingFaceTokenizer fromJson(byte[] json, String source) throws IOException {
        JsonNode root = TokenizerException.parse(json, source);
        if (root == null || !root.path("model").isObject()) {
            throw new TokenizerException(source, "not a tokenizer.json (no 'model' object)");
        }
        // the vocabulary size is the largest id plus one: ids come from the file, so they are
        // checked before they size an embedding (one id of 2^31 - 1 would ask for terabytes)
        java.util.Set<Integer> ids = new java.util.HashSet<>();
        Map<String, Integer> byToken = new java.util.HashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = root.path("model").path("vocab").fields(); it.hasNext();) {
            Map.Entry<String, JsonNode> e = it.next();
            int id = id(e.getValue(), "model.vocab['" + e.getKey() + "']", source);
            ids.add(id);
            byToken.put(e.getKey(), id);
        }
        if (root.path("model").path("vocab").isArray()) { // Unigram: [[piece, score], ...]
            for (int i = 0; i < root.path("model").path("vocab").size(); i++) {
                ids.add(i);
            }
        }
        for (JsonNode t : root.path("added_tokens")) {
            int id = id(t.path("id"), "added_tokens id", source);
            ids.add(id);
            byToken.put(t.path("content").asText(), id);
        }
        int maxId = ids.stream().mapToInt(Integer::intValue).max().orElse(-1);
        if (maxId >= 2 * ids.size() + 1024) {
            throw new TokenizerException(source, "its largest token id is " + maxId + " but it has " + ids.size()
                    + " tokens: ids that sparse would size the model's vocabulary at " + (maxId + 1L) + " rows");
        }
        try {
            var tok = ai.djl.huggingface.tokenizers.HuggingFaceTokenizer.newInstance(new ByteArrayInputStream(json),
                    Map.of("addSpecialTokens", "false", "truncation", "false", "padding", "false"));
            return new HuggingFaceTokenizer(json, maxId + 1, SpecialTokens.of(byToken), tok);
        } catch (RuntimeException e) {
            throw new TokenizerException(source, "the tokenizers library rejected it: " + e.getMessage(), e);
        }
    }

    private static int id(JsonNode n, String where, String source) throws TokenizerException {
        if (!n.canConvertToInt() || !n.isIntegralNumber() || n.asInt() < 0) {
            throw new TokenizerException(source, where + " must be a non-negative whole number, got " + n);
        }
        return n.asInt();
    }

    @Override
    public int vocabSize() { return vocabSize; }

    // DJL's Encoding objects fetch ids, type ids, tokens as strings, offsets and masks, one JNI
    // call and array each; measured on Multi30k that made the native path 6x slower than the
    // pure-Java encoder. These calls fetch only the ids.
    private static final TokenizersLibrary LIB = TokenizersLibrary.LIB;

    @Override
    public int[] encode(String text) {
        return ids(text, false);
    }

    /**
     * The ids as the checkpoint's own pipeline makes them: with its special tokens around the text
     * (BERT's [CLS] text [SEP]) as its post-processor says. No padding and no truncation.
     */
    public int[] encodeWithSpecialTokens(String text) {
        return ids(text, true);
    }

    private int[] ids(String text, boolean specialTokens) {
        long encoding = LIB.encode(tokenizer.getHandle(), text, specialTokens);
        try {
            return toInts(LIB.getTokenIds(encoding));
        } finally {
            LIB.deleteEncoding(encoding);
        }
    }

    /** Encodes many texts in one native call (the library parallelises it). */
    public int[][] encodeAll(java.util.List<String> texts) {
        long[] encodings = LIB.batchEncode(tokenizer.getHandle(), texts.toArray(new String[0]), false);
        int[][] out = new int[encodings.length][];
        try {
            for (int i = 0; i < out.length; i++) {
                out[i] = toInts(LIB.getTokenIds(encodings[i]));
            }
        } finally {
            for (long e : encodings) {
                LIB.deleteEncoding(e);
            }
        }
        return out;
    }

    private static int[] toInts(long[] ids) {
        int[] out = new int[ids.length];
        for (int i = 0; i < ids.length; i++) {
            out[i] = (int) ids[i];
        }
        return out;
    }

    @Override
    public String decode(int[] ids) {
        long[] l = new long[ids.length];
        for (int i = 0; i < ids.length; i++) {
            l[i] = ids[i];
        }
        return tokenizer.decode(l, true);
    }

    @Override
    public SpecialTokens specials() { return specials; }

    @Override
    public String type() { return "huggingface"; }

    @Override
    public byte[] toJson() { return json.clone(); }

    @Override
    public void close() {
        tokenizer.close();
    }
}
