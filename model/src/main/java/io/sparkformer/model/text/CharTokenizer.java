package io.sparkformer.model.text;

import java.io.IOException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * One token per Unicode code point, as nanoGPT's Shakespeare: the vocabulary is the corpus's
 * distinct characters sorted by code point (stable across runs), after the special ids. A
 * character outside the vocabulary encodes as unk.
 */
public final class CharTokenizer implements Tokenizer {
    static final String TYPE = "sparkformer.char";
    private static final ObjectMapper JSON = new ObjectMapper();

    private final int[] codePoints;               // sorted
    private final Map<Integer, Integer> idOf = new HashMap<>();

    private CharTokenizer(int[] sortedCodePoints) {
        this.codePoints = sortedCodePoints;
        for (int i = 0; i < sortedCodePoints.length; i++) {
            idOf.put(sortedCodePoints[i], SPECIALS.size() + i);
        }
    }

    /** The vocabulary of the given code points, in code point order. */
    public static CharTokenizer of(Set<Integer> codePoints) {
        return new CharTokenizer(new TreeSet<>(codePoints).stream().mapToInt(Integer::intValue).toArray());
    }

    public static CharTokenizer fromText(CharSequence text) {
        Set<Integer> cps = new TreeSet<>();
        text.codePoints().forEach(cps::add);
        return of(cps);
    }

    /** The distinct characters, in id order. */
    public String characters() {
        StringBuilder sb = new StringBuilder();
        for (int cp : codePoints) {
            sb.appendCodePoint(cp);
        }
        return sb.toString();
    }

    @Override
    public int vocabSize() { return SPECIALS.size() + codePoints.length; }

    @Override
    public int[] encode(String text) {
        return text.codePoints().map(cp -> idOf.getOrDefault(cp, UNK)).toArray();
    }

    @Override
    public String decode(int[] ids) {
        StringBuilder sb = new StringBuilder(ids.length);
        for (int id : ids) {
            int i = id - SPECIALS.size();
            if (i >= 0 && i < codePoints.length) {
                sb.appendCodePoint(codePoints[i]);
            }
        }
        return sb.toString();
    }

    @Override
    public String type() { return "char"; }

    @Override
    public byte[] toJson() {
        ObjectNode root = JSON.createObjectNode();
        root.put("type", TYPE);
        ArrayNode specials = root.putArray("specials");
        SPECIALS.forEach(specials::add);
        ArrayNode chars = root.putArray("chars");
        for (int cp : codePoints) {
            chars.add(new String(Character.toChars(cp)));
        }
        try {
            return JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(root);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    static CharTokenizer fromJson(byte[] json, String source) throws IOException {
        JsonNode root = TokenizerException.parse(json, source);
        if (root == null || !TYPE.equals(root.path("type").asText())) {
            throw new TokenizerException(source, "not a character tokenizer (type is not " + TYPE + ")");
        }
        List<String> specials = new ArrayList<>();
        root.path("specials").forEach(n -> specials.add(n.asText()));
        if (!specials.equals(SPECIALS)) {
            throw new TokenizerException(source, "special tokens " + specials + " differ from " + SPECIALS);
        }
        JsonNode chars = root.path("chars");
        if (!chars.isArray()) {
            throw new TokenizerException(source, "'chars' must be a list of single characters");
        }
        int[] cps = new int[chars.size()];
        for (int i = 0; i < cps.length; i++) {
            String c = chars.get(i).asText();
            if (c.codePointCount(0, c.length()) != 1) {
                throw new TokenizerException(source, "chars[" + i + "] is not a single character: '" + c + "'");
            }
            cps[i] = c.codePointAt(0);
            if (i > 0 && cps[i] <= cps[i - 1]) {
                throw new TokenizerException(source, "chars must be distinct and sorted; chars[" + i + "] is not");
            }
        }
        return new CharTokenizer(cps);
    }
}
