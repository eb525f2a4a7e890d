package io.sparkformer.driver.training;

import java.io.IOException;
import java.util.List;

import org.apache.hadoop.conf.Configuration;
import org.nd4j.linalg.api.buffer.DataType;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import io.sparkformer.driver.corpus.HadoopFiles;
import io.sparkformer.driver.models.HubCache;
import io.sparkformer.driver.models.PretrainedStart;
import io.sparkformer.model.ConfigException;
import io.sparkformer.model.Model;
import io.sparkformer.model.Transformer;
import io.sparkformer.model.TransformerConfig;
import io.sparkformer.model.io.Checkpoint;
import io.sparkformer.model.io.SafeTensors;

/**
 * Where a run's weights start, as a recipe any JVM can follow: the seed's initialisation, then a
 * checkpoint's weights over it (one of ours, read through Hadoop, or a Hugging Face directory)
 * where there is one. The recipe is a few bytes, so the workers of an all-reduce run follow it
 * themselves and the first round ships no vector; the driver checks the checkpoint's model
 * against the job's from its header alone, before any task runs.
 */
record StartWeights(long seed, Transformer.Init init, String checkpoint) implements java.io.Serializable {
    private static final Logger LOG = LoggerFactory.getLogger(StartWeights.class);

    /** Sets every parameter of {@code model}: the seed's values, then the checkpoint's where it has them. */
    void into(Model model, Configuration conf) throws IOException {
        model.initialize(seed, init);
        if (checkpoint == null) {
            return;
        }
        PretrainedStart pretrained = PretrainedStart.openIfHuggingFace(checkpoint, conf);
        if (pretrained != null) {
            List<String> fresh = pretrained.readInto(model.parameters(), model.config());
            if (!fresh.isEmpty()) {
                LOG.info("{} has no {}: initialised from the seed", checkpoint, fresh);
            }
            return;
        }
        try (SafeTensors.Reader r = open(conf)) {
            if (backboneOnly(Checkpoint.config(r), model.config())) {
                Checkpoint.readBackbone(r, model.parameters());
            } else {
                Checkpoint.readWeights(r, model.parameters());
            }
        }
    }

    /** The parameters as one vector, made in this JVM. */
    float[] read(TransformerConfig config, Configuration conf) throws IOException {
        Model model = Model.create(config, DataType.FLOAT);
        into(model, conf);
        return model.parameters().flat().toFloatVector();
    }

    /**
     * What {@link #into} would refuse, found without the weights: one of ours holding another
     * model (from its settings), a Hugging Face start's tensors of other names or shapes, or
     * missing ones (from its files' headers), before any task runs.
     */
    void check(TransformerConfig wanted, Configuration conf) throws IOException {
        if (checkpoint == null) {
            return;
        }
        PretrainedStart pretrained = PretrainedStart.openIfHuggingFace(checkpoint, conf);
        if (pretrained != null) {
            pretrained.check(wanted);
            return;
        }
        try (SafeTensors.Reader r = open(conf)) {
            backboneOnly(Checkpoint.config(r), wanted);
        }
    }

    /**
     * Whether the workers follow the recipe themselves: nothing to read, or a checkpoint every
     * executor reads: any in local mode (a Hugging Face one included: {@link #check} found its
     * tensors' names and shapes good on the driver); on a cluster, one not on the driver's own
     * disk (ours or a Hugging Face directory on HDFS or S3A). A Hugging Face directory on the
     * driver's disk (or its Hub cache) is read on the driver and broadcast.
     */
    boolean readByWorkers(boolean localMode, Configuration conf) throws IOException {
        if (checkpoint == null || localMode) {
            return true;
        }
        if (PretrainedStart.isHuggingFace(checkpoint, conf)) {
            // a URI of another file system; a plain path or a Hub id's snapshot is on the driver's disk
            return PretrainedStart.localDirectory(checkpoint) == null && !HubCache.isHubId(checkpoint);
        }
        return !"file".equals(new org.apache.hadoop.fs.Path(checkpoint).getFileSystem(conf).getScheme());
    }

    private SafeTensors.Reader open(Configuration conf) throws IOException {
        return SafeTensors.open(HadoopFiles.source(checkpoint + "/" + Checkpoint.MODEL_FILE, conf));
    }

    /** True for a language model's checkpoint under a fresh classifier (pretrain, then fine-tune); false for the same model; else an error. */
    private boolean backboneOnly(TransformerConfig stored, TransformerConfig wanted) {
        if (!stored.isClassifier() && wanted.isClassifier()
                && stored.withDropout(wanted.dropout()).withClassifier(wanted.numLabels(), wanted.pooling()).equals(wanted)) {
            return true; // the language model's network (its dropout may differ) under a freshly initialised classifier
        }
        if (stored.equals(wanted)) {
            return false;
        }
        throw new ConfigException("model", "the checkpoint " + checkpoint + " holds a different model: "
                + stored.toMap() + " but the config asks for " + wanted.toMap());
    }
}
