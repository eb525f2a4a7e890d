package io.sparkformer.model.text;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * Byte-level BPE in pure Java: ids 0..4 are the special tokens, 5..260 the 256 bytes, then one id
 * per merge in merge order. Serialises as a standard Hugging Face tokenizer.json (BPE model,
 * ByteLevel pre-tokenizer and decoder), which {@link HuggingFaceTokenizer} loads through the
 * native library and which must tokenize identically.
 */
public final class BpeTokenizer implements Tokenizer {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int CACHE_LIMIT = 200_000;

    private final List<String> idToToken;             // id -> byte-alphabet spelling
    private final Map<String, Integer> tokenToId;
    private final List<String[]> merges;
    private final Map<String, Integer> mergeRank;       // "left right" -> rank
    private final Map<String, int[]> cache = new ConcurrentHashMap<>();

    private BpeTokenizer(List<String[]> merges) {
        this.merges = List.copyOf(merges);
        List<String> tokens = new ArrayList<>(Tokenizer.SPECIALS);
        for (int b = 0; b < 256; b++) {
            tokens.add(String.valueOf(ByteLevel.charOf(b)));
        }
        mergeRank = new HashMap<>();
        for (int r = 0; r < merges.size(); r++) {
            String[] m = merges.get(r);
            tokens.add(m[0] + m[1]);
            mergeRank.put(m[0] + " " + m[1], r);
        }
        idToToken = Collections.unmodifiableList(tokens);
        tokenToId = new HashMap<>();
        for (int i = 0; i < tokens.size(); i++) {
            if (tokenToId.putIfAbsent(tokens.get(i), i) != null) {
                throw new IllegalArgumentException("token '" + tokens.get(i) + "' appears twice in the vocabulary");
            }
        }
    }

    static BpeTokenizer of(List<String[]> merges) {
        return new BpeTokenizer(merges);
    }

    public int mergeCount() { return merges.size(); }

    @Override
    public int vocabSize() { return idToToken.size(); }

    @Override
    public int[] encode(String text) {
        List<String> pieces = ByteLevel.split(text);
        int[][] parts = new int[pieces.size()][];
        int total = 0;
        for (int i = 0; i < parts.length; i++) {
            parts[i] = encodePiece(pieces.get(i));
            total += parts[i].length;
        }
        int[] out = new int[total];
        int n = 0;
        for (int[] p : parts) {
            System.arraycopy(p, 0, out, n, p.length);
            n += p.length;
        }
        return out;
    }

    private int[] encodePiece(String piece) {
        int[] cached = cache.get(piece);
        if (cached != null) {
            return cached;
        }
        String spelled = ByteLevel.toByteChars(piece);
        List<String> symbols = new ArrayList<>(spelled.length());
        for (int i = 0; i < spelled.length(); i++) {
            symbols.add(String.valueOf(spelled.charAt(i)));
        }
        while (symbols.size() > 1) {
            int best = -1;
            int bestRank = Integer.MAX_VALUE;
            for (int i = 0; i + 1 < symbols.size(); i++) {
                Integer r = mergeRank.get(symbols.get(i) + " " + symbols.get(i + 1));
                if (r != null && r < bestRank) {
                    bestRank = r;
                    best = i;
                }
            }
            if (best < 0) {
                break;
            }
            // merge every occurrence of the best pair, left to right, as the reference does
            String a = symbols.get(best);
            String b = symbols.get(best + 1);
            List<String> next = new ArrayList<>(symbols.size());
            for (int i = 0; i < symbols.size(); i++) {
                if (i + 1 < symbols.size() && symbols.get(i).equals(a) && symbols.get(i + 1).equals(b)) {
                    next.add(a + b);
                    i++;
                } else {
                    next.add(symbols.get(i));
                }
            }
            symbols = next;
        }
        int[] ids = new int[symbols.size()];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = tokenToId.get(symbols.get(i));
        }
        if (cache.size() < CACHE_LIMIT) {
            cache.put(piece, ids);
        }
        return ids;
    }

    @Override
    public String decode(int[] ids) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream(ids.length * 4);
        for (int id : ids) {
            if (id >= Tokenizer.SPECIALS.size() && id < idToToken.size()) {
                ByteLevel.appendBytes(idToToken.get(id), bytes);
            }
        }
        return bytes.toString(StandardCharsets.UTF_8);
    }

    @Override
    public String type() { return "bpe"; }

    /** The Hugging Face tokenizer.json of this vocabulary. */
    @Override
    public byte[] toJson() {
        ObjectNode root = JSON.createObjectNode();
        root.put("version", "1.0");
        root.putNull("truncation");
        root.putNull("padding");
        ArrayNode added = root.putArray("added_tokens");
        for (int i = 0; i < Tokenizer.SPECIALS.size(); i++) {
            ObjectNode t = added.addObject();
            t.put("id", i);
            t.put("content", Tokenizer.SPECIALS.get(i));
            t.put("single_word", false);
            t.put("lstrip", false);
            t.put("rstrip", false);
            t.put("normalized", false);
            t.put("special", true);
        }
        root.putNull("normalizer");
        root.set("pre_tokenizer", byteLevel(false));
        root.putNull("post_processor");
        root.set("decoder", byteLevel(true));
        ObjectNode model = root.putObject("model");
        model.put("type", "BPE");
        model.putNull("dropout");
        model.putNull("unk_token");
        model.putNull("continuing_subword_prefix");
        model.putNull("end_of_word_suffix");
        model.put("fuse_unk", false);
        model.put("byte_fallback", false);
        ObjectNode vocab = model.putObject("vocab");
        for (int i = 0; i < idToToken.size(); i++) {
            vocab.put(idToToken.get(i), i);
        }
        ArrayNode mergeList = model.putArray("merges");
        for (String[] m : merges) {
            mergeList.add(m[0] + " " + m[1]);
        }
        try {
            return JSON.writeValueAsBytes(root);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    private static ObjectNode byteLevel(boolean decoder) {
        ObjectNode n = JSON.createObjectNode();
        n.put("type", "ByteLevel");
        n.put("add_prefix_space", decoder);
        n.put("trim_offsets", true);
        n.put("use_regex", true);
        return n;
    }

    /** Whether json is a byte-level BPE whose first ids are this project's specials and the bytes. */
    static boolean isOwnLayout(byte[] json) {
        try {
            JsonNode root = JSON.readTree(json);
            JsonNode vocab = root.path("model").path("vocab");
            if (!"BPE".equals(root.path("model").path("type").asText())
                    || !"ByteLevel".equals(root.path("pre_tokenizer").path("type").asText())) {
                return false;
            }
            for (int i = 0; i < Tokenizer.SPECIALS.size(); i++) {
                if (vocab.path(Tokenizer.SPECIALS.get(i)).asInt(-1) != i) {
                    return false;
                }
            }
            for (int b = 0; b < 256; b++) {
                if (vocab.path(String.valueOf(ByteLevel.charOf(b))).asInt(-1) != Tokenizer.SPECIALS.size() + b) {
                    return false;
                }
            }
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    /**
     * Reads a tokenizer.json this class wrote (or any byte-level BPE whose ids follow the same
     * layout): the merges define everything, the vocabulary is checked against them.
     */
    public static BpeTokenizer fromJson(byte[] json, String source) throws IOException {
        JsonNode root = TokenizerException.parse(json, source);
        JsonNode model = root == null ? null : root.path("model");
        if (model == null || !"BPE".equals(model.path("type").asText())
                || !"ByteLevel".equals(root.path("pre_tokenizer").path("type").asText())) {
            throw new TokenizerException(source, "not a byte-level BPE tokenizer.json");
        }
        List<String[]> merges = new ArrayList<>();
        for (JsonNode m : model.path("merges")) {
            String[] parts = m.isArray() ? new String[] {m.get(0).asText(), m.get(1).asText()} : m.asText().split(" ", 2);
            if (parts.length != 2) {
                throw new TokenizerException(source, "merge '" + m + "' is not a pair");
            }
            merges.add(parts);
        }
        BpeTokenizer t = new BpeTokenizer(merges);
        Map<String, Integer> expected = new LinkedHashMap<>();
        for (int i = 0; i < t.idToToken.size(); i++) {
            expected.put(t.idToToken.get(i), i);
        }
        JsonNode vocab = model.path("vocab");
        for (Map.Entry<String, Integer> e : expected.entrySet()) {
            if (vocab.path(e.getKey()).asInt(-1) != e.getValue() && e.getValue() >= Tokenizer.SPECIALS.size()) {
                throw new TokenizerException(source, "vocabulary does not follow this project's layout at id "
                        + e.getValue() + "; load it as a generic Hugging Face tokenizer instead");
            }
        }
        return t;
    }
}
