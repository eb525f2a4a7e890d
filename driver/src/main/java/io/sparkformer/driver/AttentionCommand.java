package io.sparkformer.driver;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.Callable;

import org.apache.hadoop.conf.Configuration;
import org.nd4j.linalg.api.ndarray.INDArray;

import io.sparkformer.driver.corpus.HadoopFiles;
import io.sparkformer.driver.models.TrainedModel;
import io.sparkformer.driver.plots.AttentionPlot;
import io.sparkformer.model.Batch;
import io.sparkformer.model.ConfigException;
import io.sparkformer.model.Nd4jRuntime;
import io.sparkformer.model.TransformerConfig;
import io.sparkformer.model.TransformerConfig.Kind;
import io.sparkformer.model.inference.Generator;
import io.sparkformer.model.inference.IncrementalDecoder;
import io.sparkformer.model.text.Tokenizer;
import io.sparkformer.worker.batches.Seq2SeqBatches;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** PNG heatmaps of one layer's attention weights for one input, a panel per head. */
@Command(name = "attention", mixinStandardHelpOptions = true,
        description = {"Draw one layer's attention weights for a text, one panel per head (tokens on both axes).",
                "Encoder-decoder models: --text is the source; the target is --target or the greedy translation."})
final class AttentionCommand implements Callable<Integer> {
    @Mixin
    ModelOptions.Model modelOption;

    @Option(names = "--text", required = true, description = "the input (a prompt, a sentence, or the source)")
    String text;

    @Option(names = "--target", description = "encoder-decoder: the target side (default: the greedy translation)")
    String target;

    @Option(names = "--layer", description = "layer index (default ${DEFAULT-VALUE})")
    int layer = 0;

    @Option(names = "--stack", description = "encoder or decoder (default: the model's only stack; decoder for encoder-decoder)")
    String stack;

    @Option(names = "--cross", description = "encoder-decoder: the decoder's cross-attention over the source")
    boolean cross;

    @Option(names = "--output", required = true, description = "the PNG to write (any Hadoop FS path)")
    String output;

    @Override
    public Integer call() throws Exception {
        Nd4jRuntime.init();
        Configuration conf = new Configuration();
        TrainedModel m = TrainedModel.load(HadoopFiles.absolute(modelOption.path), conf);
        TransformerConfig cfg = m.model().config();
        Tokenizer tok = m.tokenizer();
        if (!(m.model() instanceof io.sparkformer.model.Transformer model)) {
            throw new ConfigException("--model", m.checkpoint() + " is an lstm: it has no attention to plot");
        }
        String which = stack != null ? stack : cfg.kind() == Kind.ENCODER ? "encoder" : "decoder";
        if (!which.equals("encoder") && !which.equals("decoder")) {
            throw new ConfigException("--stack", "must be encoder or decoder, got " + which);
        }
        if (cross && (cfg.kind() != Kind.ENCODER_DECODER || which.equals("encoder"))) {
            throw new ConfigException("--cross", "only the decoder of an encoder-decoder model has cross-attention");
        }
        if (layer < 0 || layer >= cfg.nLayers()) {
            throw new ConfigException("--layer", "must be in [0, " + cfg.nLayers() + "), got " + layer);
        }
        int[] ids = crop(tok.encode(text), cfg.maxLen());
        List<String> queries;
        List<String> keys;
        if (cfg.kind() == Kind.ENCODER_DECODER) {
            int[] src = Seq2SeqBatches.withEnd(ids, cfg.maxLen());
            int[] tgt = target != null ? tok.encode(target) : new Generator(new IncrementalDecoder(model), Tokenizer.BOS,
                    Tokenizer.EOS).generate(List.of(src), Generator.Settings.greedy(cfg.maxLen())).get(0);
            int[] tgtIn = new int[Math.min(tgt.length + 1, cfg.maxLen())];
            tgtIn[0] = Tokenizer.BOS;
            System.arraycopy(tgt, 0, tgtIn, 1, tgtIn.length - 1);
            m.model().forward(Batch.seq2seq(1, src.length, src, tgtIn.length, tgtIn, null), false);
            List<String> srcLabels = labels(tok, src);
            List<String> tgtLabels = labels(tok, tgtIn);
            queries = which.equals("encoder") ? srcLabels : tgtLabels;
            keys = which.equals("encoder") ? srcLabels : cross ? srcLabels : tgtLabels;
        } else {
            m.model().forward(Batch.of(1, ids.length, ids, null), false);
            queries = labels(tok, ids);
            keys = queries;
        }
        INDArray p = model.attentionProbabilities(which, layer, cross);
        double[][][] w = new double[cfg.nHeads()][][];
        for (int h = 0; h < cfg.nHeads(); h++) {
            w[h] = p.slice(h).toDoubleMatrix(); // [B·h, Tq, Tk] with B = 1
        }
        String title = which + " " + layer + (cross ? " cross" : " self");
        AttentionPlot.write(w, queries, keys, title, HadoopFiles.absolute(output), conf);
        System.out.println("sparkformer: " + title + ", " + cfg.nHeads() + " heads, " + queries.size() + " x " + keys.size()
                + " tokens: " + HadoopFiles.absolute(output));
        return Cli.OK;
    }

    private static int[] crop(int[] ids, int max) {
        return ids.length <= max ? ids : Arrays.copyOf(ids, max);
    }

    private static List<String> labels(Tokenizer tok, int[] ids) {
        List<String> out = new ArrayList<>();
        for (int id : ids) {
            String t = switch (id) {
                case Tokenizer.BOS -> "<bos>";
                case Tokenizer.EOS -> "<eos>";
                case Tokenizer.PAD -> "<pad>";
                default -> AttentionPlot.label(tok.decode(new int[] {id}));
            };
            out.add(t);
        }
        return out;
    }
}
