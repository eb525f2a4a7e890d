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
    private final Map<Long, Integer> mergeRank;         // (left id << 32 | right id) -> rank
    private final Map<String, int[]> cache = new ConcurrentHashMap<>();

    private BpeTokenizer(List<String[]> merges) {
        this.merges = List.copyOf(merges);
        List<String> tokens = new ArrayList<>(Tokenizer.SPECIALS);
        for (int b = 0; b < 256; b++) {
            tokens.add(String.valueOf(ByteLevel.charOf(b)));
        }
        for (String[] m : merges) {
            tokens.add(m[0] + m[1]);
        }
        idToToken = Collections.unmodifiableList(tokens);
        tokenToId = new HashMap<>();
        for (int i = 0; i < tokens.size(); i++) {
            if (tokenToId.putIfAbsent(tokens.get(i), i) != null) {
                throw new IllegalArgumentException("token '" + tokens.get(i) + "' appears twice in the vocabulary");
            }
        }
        mergeRank = new HashMap<>();
        for (int r = 0; r < merges.size(); r++) {
            Integer left = tokenToId.get(merges.get(r)[0]);
            Integer right = tokenToId.get(merges.get(r)[1]);
            if (left == null || right == null) {
                throw new IllegalArgumentException("merge " + r + " joins '" + merges.get(r)[0] + "' and '"
                        + merges.get(r)[1] + "', which are not both tokens");
            }
            mergeRank.put(pair(left, right), r);
        }
    }

    private static long pair(int left, int right) {
        return (long) left << 32 | (right & 0xffffffffL);
    }

    /** The id merge {@code rank} makes: merged tokens follow the specials and the 256 bytes in rank order. */
    private static int merged(int rank) {
        return Tokenizer.SPECIALS.size() + 256 + rank;
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

    /**
     * The merges applied to one piece, lowest rank first and, among equal ranks, left to right
     * (what merging every occurrence of the best pair per pass gives, since a merge only ever
     * makes pairs of higher rank). A heap of candidate pairs over a linked list of symbols:
     * O(n log n) in the piece's length, where rescanning the piece after each merge was
     * quadratic (one 50 MB line without spaces is one piece).
     */
    private int[] merge(String spelled) {
        int n = spelled.length();
        int[] sym = new int[n];
        int[] next = new int[n];
        int[] prev = new int[n];
        for (int i = 0; i < n; i++) {
            sym[i] = tokenToId.get(String.valueOf(spelled.charAt(i)));
            next[i] = i + 1 < n ? i + 1 : -1;
            prev[i] = i - 1;
        }
        java.util.PriorityQueue<Long> heap = new java.util.PriorityQueue<>();
        for (int i = 0; i + 1 < n; i++) {
            offer(heap, sym, i, i + 1);
        }
        int count = n;
        while (!heap.isEmpty()) {
            long top = heap.poll();
            int rank = (int) (top >>> 32);
            int at = (int) top;
            int right = next[at];
            // stale when either symbol has merged since: the pair there is no longer this rank's
            if (sym[at] < 0 || right < 0 || !Integer.valueOf(rank).equals(mergeRank.get(pair(sym[at], sym[right])))) {
                continue;
            }
            sym[at] = merged(rank);
            sym[right] = -1;
            next[at] = next[right];
            if (next[at] >= 0) {
                prev[next[at]] = at;
            }
            count--;
            if (prev[at] >= 0) {
                offer(heap, sym, prev[at], at);
            }
            if (next[at] >= 0) {
                offer(heap, sym, at, next[at]);
            }
        }
        int[] ids = new int[count];
        for (int i = n == 0 ? -1 : 0, k = 0; i >= 0; i = next[i]) {
            ids[k++] = sym[i];
        }
        return ids;
    }

    private void offer(java.util.PriorityQueue<Long> heap, int[] sym, int left, int right) {
        Integer rank = mergeRank.get(pair(sym[left], sym[right]));
        if (rank != null) {
            heap.add((long) rank << 32 | left);
        }
    }

    private int[] encodePiece(String piece) {
        int[] cached = cache.get(piece);
        if (cached != null) {
            return cached;
        }
        int[] ids = merge(ByteLevel.toByteChars(piece));
        if (cache.size() < CACHE_LIMIT && piece.length() <= 256) { // words repeat; a megabyte line does not
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
