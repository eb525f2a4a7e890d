package io.sparkformer.model.text;

import java.util.Map;

/**
 * The ids a task puts around and between texts: padding, the start and end of a sequence, the
 * masked-LM mask and the unknown token. This project's tokenizers reserve 0..4 for them
 * ({@link #OWN}); a pretrained checkpoint's tokenizer has its own (BERT's [PAD] [CLS] [SEP]
 * [MASK] [UNK], GPT-2's one end-of-text token). -1: the tokenizer has no such token.
 */
public record SpecialTokens(int pad, int bos, int eos, int mask, int unk) implements java.io.Serializable {
    public static final SpecialTokens OWN = new SpecialTokens(Tokenizer.PAD, Tokenizer.BOS, Tokenizer.EOS, Tokenizer.MASK, Tokenizer.UNK);

    /**
     * The special tokens a vocabulary names: this project's own layout, BERT's WordPiece
     * ([CLS] and [SEP]), RoBERTa's (&lt;s&gt;, &lt;/s&gt;) or GPT-2's (&lt;|endoftext|&gt; for
     * start, end and padding); else this project's ids.
     */
    public static SpecialTokens of(Map<String, Integer> vocab) {
        if (Integer.valueOf(Tokenizer.PAD).equals(vocab.get(Tokenizer.SPECIALS.get(Tokenizer.PAD)))
                && Integer.valueOf(Tokenizer.BOS).equals(vocab.get(Tokenizer.SPECIALS.get(Tokenizer.BOS)))) {
            return OWN;
        }
        if (vocab.containsKey("[CLS]") && vocab.containsKey("[SEP]")) {
            return new SpecialTokens(id(vocab, "[PAD]"), vocab.get("[CLS]"), vocab.get("[SEP]"), id(vocab, "[MASK]"), id(vocab, "[UNK]"));
        }
        if (vocab.containsKey("<s>") && vocab.containsKey("</s>")) {
            return new SpecialTokens(id(vocab, "<pad>"), vocab.get("<s>"), vocab.get("</s>"), id(vocab, "<mask>"), id(vocab, "<unk>"));
        }
        if (vocab.containsKey("<|endoftext|>")) {
            int end = vocab.get("<|endoftext|>");
            return new SpecialTokens(end, end, end, -1, -1);
        }
        return OWN;
    }

    private static int id(Map<String, Integer> vocab, String token) {
        return vocab.getOrDefault(token, -1);
    }
}
