package io.sparkformer.model.layers;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.impl.shape.OneHot;
import org.nd4j.linalg.api.ops.impl.transforms.custom.LogSoftMax;
import org.nd4j.linalg.api.ops.impl.transforms.strict.Exp;
import org.nd4j.linalg.factory.Nd4j;

/**
 * logits = h·Wᵀ (+ b, BERT's output bias, when one is given) and the mean cross-entropy over
 * targets that are not −1; W is tok_emb (tied, the spec's model) or a separate lm_head.weight of
 * the same shape.
 *
 * <p>Float32 on the CPU takes fused loops that keep only the logits, one [rows, V] buffer (at
 * GPT-2's vocabulary and 512 rows, 100 MB): the backward pass writes their gradient over them,
 * row by row, so {@link #logits} holds the gradient after {@link #backward}. Elsewhere the per-row
 * weights (1/n at counted rows, 0 at ignored ones) are folded into a scaled one-hot matrix, so
 * loss and gradient are a few whole-matrix ND4J ops over four such buffers.
 */
public final class TiedHeadLoss {
    private final INDArray table;
    private final INDArray tableGrad;
    private final long vocab;

    private INDArray bias, biasGrad; // [V], or null: no bias
    private INDArray onesRow;         // [1, rows], for the bias gradient
    private INDArray h;
    private INDArray logits, dLogits;
    private INDArray logProbs, weightedTargets, rowWeight; // the ND4J-op path only
    private int[] targetIds;
    private float[] lse;
    private boolean fused;
    private int counted;

    public TiedHeadLoss(INDArray table, INDArray tableGrad) {
        this.table = table;
        this.tableGrad = tableGrad;
        this.vocab = table.size(0);
    }

    /** Adds an output bias [V] (BERT's masked-LM head has one; the spec's tied head has none). */
    public TiedHeadLoss withBias(INDArray bias, INDArray biasGrad) {
        this.bias = bias;
        this.biasGrad = biasGrad;
        return this;
    }

    public void allocate(DataType type, long rows) {
        onesRow = bias != null ? Ops.ones(type, rows).reshape(1, rows) : null;
        logits = Ops.buffer(type, rows, vocab);
        fused = FloatKernels.applies(logits);
        if (fused) {
            dLogits = logits; // each row is read whole before its gradient is written
            lse = new float[Math.toIntExact(rows)];
        } else {
            dLogits = Ops.buffer(type, rows, vocab);
            logProbs = Ops.buffer(type, rows, vocab);
            weightedTargets = Ops.buffer(type, rows, vocab);
            rowWeight = Ops.buffer(type, rows);
        }
    }

    /** The last forward pass's logits; on the float32 path, their gradient once {@link #backward} has run. */
    public INDArray logits() { return logits; }

    public INDArray forwardLogits(INDArray hidden) {
        this.h = hidden;
        Ops.mm(hidden, table, logits, false, true, 1.0, 0.0);
        if (bias != null) {
            logits.addiRowVector(bias);
        }
        return logits;
    }

    /**
     * Sets the targets ([rows], −1 ignored; {@code ids} as an INT32 array) and the number of
     * counted rows, then returns the mean loss over counted rows (0 when none).
     */
    public double loss(INDArray targets, int[] ids, int countedRows) {
        this.counted = countedRows;
        this.targetIds = ids;
        if (countedRows == 0) {
            return 0.0;
        }
        if (fused) {
            return FloatKernels.crossEntropy(logits, ids, lse) / countedRows;
        }
        double w = 1.0 / countedRows;
        Nd4j.exec(new OneHot(targets, weightedTargets, (int) vocab, -1, w, 0.0));
        weightedTargets.sum(rowWeight, 1); // 1/n at counted rows, 0 at ignored ones
        Nd4j.exec(new LogSoftMax(logits, logProbs));
        return -Nd4j.getBlasWrapper().dot(weightedTargets.reshape(-1), logProbs.reshape(-1));
    }

    /** dL/dh into dHidden (overwritten); the output layer's gradient accumulates. */
    public void backward(INDArray dHidden) {
        if (counted == 0) {
            dHidden.assign(0);
            return;
        }
        if (fused) {
            FloatKernels.crossEntropyBackward(logits, targetIds, lse, 1.0f / counted, dLogits);
        } else {
            Nd4j.exec(new Exp(logProbs, dLogits));
            Ops.mulBroadcast(dLogits, rowWeight, dLogits, 0);
            dLogits.subi(weightedTargets);
        }
        Ops.mm(dLogits, table, dHidden, false, false, 1.0, 0.0);
        Ops.mm(dLogits, h, tableGrad, true, false, 1.0, 1.0);
        if (bias != null) {
            Ops.mm(onesRow, dLogits, biasGrad.reshape(1, vocab), false, false, 1.0, 1.0);
        }
    }
}
