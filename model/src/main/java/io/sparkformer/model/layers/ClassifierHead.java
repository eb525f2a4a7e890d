package io.sparkformer.model.layers;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.impl.broadcast.BroadcastCopyOp;
import org.nd4j.linalg.api.ops.impl.shape.OneHot;
import org.nd4j.linalg.api.ops.impl.transforms.custom.LogSoftMax;
import org.nd4j.linalg.api.ops.impl.transforms.strict.Exp;
import org.nd4j.linalg.api.ops.impl.transforms.strict.Tanh;
import org.nd4j.linalg.factory.Nd4j;

import io.sparkformer.model.TransformerConfig.Pooling;

/**
 * One label per sequence: the top hidden states [B·T, d] pooled to [B, d] with per-position
 * weights (the first token, the mean over tokens that are not padding, or the last such token),
 * for BERT's pooler then tanh(pooled·Wp + bp), then logits = pooled·W + b [B, L] and the mean
 * cross-entropy over the rows.
 *
 * <p>Pooling is a weighted sum, so one pair of broadcasts serves all three choices and the
 * gradient flows to exactly the positions that were read.
 */
public final class ClassifierHead {
    private final INDArray weight, bias, weightGrad, biasGrad;
    private final Pooling pooling;
    private final Weights pooler;     // null unless pooling is POOLER
    private final int labels;

    private long b, t, d;
    private INDArray poolWeights; // [B, T]
    private INDArray weighted;    // [B, T, d]
    private INDArray pooled, dPooled; // [B, d]
    private INDArray poolerOut, dPoolerOut; // [B, d], the pooler's tanh output and its gradient
    private INDArray logits, logProbs, oneHot, dLogits; // [B, L]
    private INDArray labelIds;    // [B] INT32
    private INDArray onesRow;     // [1, B]

    public ClassifierHead(INDArray weight, INDArray bias, INDArray weightGrad, INDArray biasGrad, Pooling pooling) {
        this(weight, bias, weightGrad, biasGrad, pooling, null);
    }

    /** {@code pooler}: BERT's pooler dense layer [d, d], for pooling POOLER (else null). */
    public ClassifierHead(INDArray weight, INDArray bias, INDArray weightGrad, INDArray biasGrad, Pooling pooling, Weights pooler) {
        if ((pooling == Pooling.POOLER) != (pooler != null)) {
            throw new IllegalArgumentException("pooling " + pooling + " with" + (pooler == null ? "out" : "") + " pooler weights");
        }
        this.weight = weight;
        this.bias = bias;
        this.weightGrad = weightGrad;
        this.biasGrad = biasGrad;
        this.pooling = pooling;
        this.pooler = pooler;
        this.labels = Math.toIntExact(weight.size(1));
    }

    public int labels() { return labels; }

    public void allocate(DataType type, long batch, long length, long width) {
        b = batch;
        t = length;
        d = width;
        poolWeights = Ops.buffer(type, b, t);
        weighted = Ops.buffer(type, b, t, d);
        pooled = Ops.buffer(type, b, d);
        dPooled = Ops.buffer(type, b, d);
        poolerOut = pooler != null ? Ops.buffer(type, b, d) : null;
        dPoolerOut = pooler != null ? Ops.buffer(type, b, d) : null;
        logits = Ops.buffer(type, b, labels);
        logProbs = Ops.buffer(type, b, labels);
        oneHot = Ops.buffer(type, b, labels);
        dLogits = Ops.buffer(type, b, labels);
        labelIds = Ops.buffer(DataType.INT32, b);
        onesRow = Ops.ones(type, b).reshape(1, b);
    }

    /** The pooling weights of a batch's rows, from its ids: padding is never read (an all-padding row reads position 0). */
    public void setRows(int[] ids, int padId) {
        double[] w = new double[Math.toIntExact(b * t)];
        int len = (int) t;
        for (int r = 0; r < b; r++) {
            int real = 0;
            int last = 0;
            for (int i = 0; i < len; i++) {
                if (ids[r * len + i] != padId) {
                    real++;
                    last = i;
                }
            }
            switch (pooling) {
                case FIRST, POOLER -> w[r * len] = 1;
                case LAST -> w[r * len + last] = 1;
                case MEAN -> {
                    if (real == 0) {
                        w[r * len] = 1;
                    } else {
                        for (int i = 0; i < len; i++) {
                            if (ids[r * len + i] != padId) {
                                w[r * len + i] = 1.0 / real;
                            }
                        }
                    }
                }
            }
        }
        Ops.assignAndFree(poolWeights, Nd4j.createFromArray(w).reshape(b, t));
    }

    /** Logits [B, L] of the pooled hidden states. */
    public INDArray forwardLogits(INDArray hiddenRows) {
        Ops.mulBroadcast(hiddenRows.reshape(b, t, d), poolWeights, weighted, 0, 1);
        weighted.sum(pooled, 1);
        Linear.forward(pooler != null ? poolerForward() : pooled, weight, bias, logits);
        return logits;
    }

    private INDArray poolerForward() {
        Linear.forward(pooled, pooler.weight(), pooler.bias(), poolerOut);
        Nd4j.exec(new Tanh(poolerOut, poolerOut));
        return poolerOut;
    }

    /** What the classifier layer reads, [B, d]: the pooled hidden states, or the pooler's output (BERT's pooler_output). */
    public INDArray pooledOutput() { return pooler != null ? poolerOut : pooled; }

    public INDArray logits() { return logits; }

    /** The mean cross-entropy of the last logits against one label per row. */
    public double loss(int[] rowLabels) {
        for (int i = 0; i < rowLabels.length; i++) {
            if (rowLabels[i] < 0 || rowLabels[i] >= labels) {
                throw new IllegalArgumentException("labels[" + i + "] = " + rowLabels[i] + " is outside [0, " + labels + ")");
            }
        }
        Ops.assignAndFree(labelIds, Nd4j.createFromArray(rowLabels));
        Nd4j.exec(new OneHot(labelIds, oneHot, labels, -1, 1.0 / b, 0.0));
        Nd4j.exec(new LogSoftMax(logits, logProbs));
        return -Nd4j.getBlasWrapper().dot(oneHot.reshape(-1), logProbs.reshape(-1));
    }

    /** dL/d(hidden rows) into dHidden (overwritten); W and b's gradients accumulate. */
    public void backward(INDArray dHidden) {
        Nd4j.exec(new Exp(logProbs, dLogits));
        dLogits.muli(1.0 / b).subi(oneHot);
        if (pooler == null) {
            Linear.backward(pooled, weight, dLogits, weightGrad, biasGrad.reshape(1, labels), dPooled, 0.0, onesRow);
        } else {
            Linear.backward(poolerOut, weight, dLogits, weightGrad, biasGrad.reshape(1, labels), dPoolerOut, 0.0, onesRow);
            // tanh' = 1 − tanh²
            dPoolerOut.muli(poolerOut.mul(poolerOut).rsubi(1.0));
            Linear.backward(pooled, pooler.weight(), dPoolerOut, pooler.weightGrad(), pooler.biasGradRow(), dPooled, 0.0, onesRow);
        }
        INDArray d3 = dHidden.reshape(b, t, d);
        Nd4j.exec(new BroadcastCopyOp(d3, dPooled, d3, 0, 2));
        Ops.mulBroadcast(d3, poolWeights, d3, 0, 1);
    }
}
