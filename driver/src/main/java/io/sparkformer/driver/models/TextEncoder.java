package io.sparkformer.driver.models;

import java.io.IOException;
import java.util.Arrays;
import java.util.function.Function;

import org.apache.hadoop.conf.Configuration;

import io.sparkformer.model.ConfigException;
import io.sparkformer.model.Transformer;
import io.sparkformer.model.text.HuggingFaceTokenizer;
import io.sparkformer.model.text.SpecialTokens;

/**
 * A transformer and how it turns a text into one row of ids for embedding: a Hugging Face
 * checkpoint's own pipeline (its post-processor's special tokens, e.g. [CLS] text [SEP]), or a
 * model trained here (bos, text, eos, as classification reads rows). Rows longer than the
 * model's positions keep their first ids and their closing one.
 */
public record TextEncoder(Transformer model, Function<String, int[]> encode) {

    /** The model {@code path} names (see {@link TrainedModel}; a Hugging Face directory or Hub id too). */
    public static TextEncoder load(String path, Configuration conf) throws IOException {
        TrainedModel m = TrainedModel.load(path, conf);
        if (!(m.model() instanceof Transformer t)) {
            throw new ConfigException("--model", m.checkpoint() + " is a " + m.model().config().kind().name().toLowerCase()
                    + "; embedding reads a transformer's hidden states");
        }
        int maxLen = t.config().maxLen();
        if (PretrainedStart.isHuggingFace(path, conf) && m.tokenizer() instanceof HuggingFaceTokenizer own) {
            // the checkpoint's own pipeline, as sentence-transformers feeds it
            return new TextEncoder(t, text -> truncated(own.encodeWithSpecialTokens(text), maxLen));
        }
        SpecialTokens specials = m.tokenizer().specials();
        return new TextEncoder(t, text -> {
            int[] ids = m.tokenizer().encode(text);
            int[] row = new int[ids.length + 2];
            row[0] = specials.bos();
            System.arraycopy(ids, 0, row, 1, ids.length);
            row[row.length - 1] = specials.eos();
            return truncated(row, maxLen);
        });
    }

    /** At most max_len ids: a longer row keeps its first max_len − 1 and its last (the closing special token). */
    static int[] truncated(int[] ids, int maxLen) {
        if (ids.length <= maxLen) {
            return ids;
        }
        int[] out = Arrays.copyOf(ids, maxLen);
        out[maxLen - 1] = ids[ids.length - 1];
        return out;
    }
}
