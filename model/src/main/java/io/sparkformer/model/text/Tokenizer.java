package io.sparkformer.model.text;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;

/**
 * Text to token ids and back. Every tokenizer the project builds reserves the same special ids,
 * so a model's pad_id is always 0 and tasks find bos, eos and mask where they expect them.
 * A tokenizer serialises to one file ({@link #FILE_NAME}) saved beside the model, which makes a
 * checkpoint self-contained.
 */
public interface Tokenizer {
    String FILE_NAME = "tokenizer.json";

    int PAD = 0;
    int BOS = 1;
    int EOS = 2;
    int MASK = 3;
    int UNK = 4;
    /** The special tokens, in id order 0..4. */
    List<String> SPECIALS = List.of("<pad>", "<bos>", "<eos>", "<mask>", "<unk>");

    /** Ids 0 .. vocabSize()−1, the special tokens included. */
    int vocabSize();

    /** Token ids of text, without special tokens. */
    int[] encode(String text);

    /** The text of ids; special tokens are dropped. */
    String decode(int[] ids);

    /** The ids of padding, start, end, mask and unknown: this project's 0..4, or a pretrained tokenizer's own. */
    default SpecialTokens specials() { return SpecialTokens.OWN; }

    /** A short name of the kind: "char", "bpe", "huggingface". */
    String type();

    /** The tokenizer file's content (UTF-8 JSON). */
    byte[] toJson();

    /** SHA-256 of the tokenizer file: token shards record it to know they are still valid. */
    default String fingerprint() {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(toJson()));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * Reads any tokenizer file this project writes, or any Hugging Face tokenizer.json. A
     * byte-level BPE in this project's layout encodes in pure Java: on Multi30k (bench/tokenize.sh)
     * that ran 2.6x faster than the native library, with identical ids. Anything else goes to the
     * native library.
     */
    static Tokenizer fromJson(byte[] json, String source) throws IOException {
        String text = new String(json, StandardCharsets.UTF_8);
        if (text.contains("\"" + CharTokenizer.TYPE + "\"")) {
            return CharTokenizer.fromJson(json, source);
        }
        if (BpeTokenizer.isOwnLayout(json)) {
            return BpeTokenizer.fromJson(json, source);
        }
        return HuggingFaceTokenizer.fromJson(json, source);
    }
}
