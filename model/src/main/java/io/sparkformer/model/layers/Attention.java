package io.sparkformer.model.layers;

import static org.nd4j.linalg.indexing.NDArrayIndex.all;
import static org.nd4j.linalg.indexing.NDArrayIndex.interval;
import static org.nd4j.linalg.indexing.NDArrayIndex.point;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.impl.transforms.custom.SoftMax;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Multi-head attention, all heads at once. Shapes: B batch rows, Tq query and Tk key positions,
 * d the model width, h heads of hd = d/h each. Self-attention projects Q, K and V with one GEMM
 * against the fused [d, 3d] weight; cross-attention projects Q from the queries and K, V from the
 * memory with the same block split in columns. Both then share one core: the scores for every
 * (batch, head) pair from one batched matmul, a masked softmax, the context and the output
 * projection. Blocked pairs get an additive bias of {@link #BLOCKED}, so their probability is
 * exactly 0 and a fully blocked row (never the case in valid batches) degrades to uniform, not NaN.
 */
public final class Attention {
    /** The additive bias of a (query, key) pair that may not attend. */
    public static final double BLOCKED = -1e9;

    private final Projection projection;
    private final int heads;
    private final long d;
    private final long dk;
    private final double scale;
    private final Dropout probDropout;
    private final Weights out;
    private final INDArray dbo;
    /** The key bias's gradient, kept at zero (see the constructor). */
    private final INDArray dbk;

    private long batch, tq, tk;
    private INDArray scores, probs;
    private INDArray ctx, merged, output;
    private INDArray dMerged, dCtx, dProbs, dScoreTmp, rowSum;

    /** Self-attention: Q, K and V of the same rows, from the fused projection {@code qkv} ([d, 3d]). */
    public static Attention self(int heads, Weights qkv, Weights out, Dropout probDropout) {
        return new Attention(heads, qkv, out, probDropout, false);
    }

    /** Attention of the queries over a memory (the encoder's output): Q from qkv's first d columns, K and V from the rest. */
    public static Attention cross(int heads, Weights qkv, Weights out, Dropout probDropout) {
        return new Attention(heads, qkv, out, probDropout, true);
    }

    private Attention(int heads, Weights qkv, Weights out, Dropout probDropout, boolean cross) {
        this.heads = heads;
        this.d = out.weight().size(0);
        this.dk = d / heads;
        this.scale = 1.0 / Math.sqrt(dk);
        this.probDropout = probDropout;
        this.out = out;
        this.dbo = out.biasGradRow();
        // The key bias shifts every score of a query row by the same amount, which softmax ignores:
        // its gradient is exactly zero. Computed, it is round-off that Adam would blow up to
        // full-size steps, so it is set to zero instead.
        this.dbk = qkv.biasGradRow() == null ? null : qkv.biasGradRow().get(all(), interval(d, 2 * d));
        this.projection = cross ? new CrossProjection(qkv) : new SelfProjection(qkv);
    }

    public void allocate(DataType type, long batch, long tq, long tk) {
        this.batch = batch;
        this.tq = tq;
        this.tk = tk;
        long bh = batch * heads;
        projection.allocate(type, batch * tq, batch * tk, bh);
        // what backward reads is the layer's own; scores and the gradients are every layer's scratch
        scores = Ops.scratch("attention.scores", type, bh, tq, tk);
        probs = Ops.buffer(type, bh, tq, tk);
        dProbs = Ops.scratch("attention.dProbs", type, bh, tq, tk);
        dScoreTmp = Ops.scratch("attention.dScoreTmp", type, bh, tq, tk);
        rowSum = Ops.scratch("attention.rowSum", type, bh, tq);
        ctx = Ops.buffer(type, bh, tq, dk);
        dCtx = Ops.scratch("attention.dCtx", type, bh, tq, dk);
        merged = Ops.buffer(type, batch * tq, d);
        dMerged = Ops.scratch("attention.dMerged", type, batch * tq, d);
        output = Ops.buffer(type, batch * tq, d);
        probDropout.allocate(type, bh, tq, tk);
    }

    public INDArray output() { return output; }

    /** The attention probabilities of the last forward pass, [B·h, Tq, Tk]. */
    public INDArray probabilities() { return probs; }

    /**
     * @param xq   queries [B·Tq, d]
     * @param xkv  keys and values [B·Tk, d]; the same array as xq for self-attention
     * @param bias additive mask [B·h, Tq, Tk]: 0 where allowed, {@link #BLOCKED} where not
     */
    public INDArray forward(INDArray xq, INDArray xkv, INDArray bias, boolean training) {
        projection.forward(xq, xkv);
        Ops.mm(projection.q, projection.k, scores, false, true, scale, 0.0);
        maskedSoftmax(scores, bias, probs);
        INDArray p = probDropout.forward(probs, training);
        Ops.mm(p, projection.v, ctx, false, false, 1.0, 0.0);
        mergeHeads(ctx, merged, tq, 1);
        Linear.forward(merged, out.weight(), out.bias(), output);
        return output;
    }

    /**
     * As {@link #forward(INDArray, INDArray, INDArray, boolean)} for self-attention; with {@code
     * keep} off (inference: no backward follows) on the float32 host path, the heads' products
     * read Q, K and V where the projection wrote them and write the context where the output
     * projection reads it, each head a column range of a wider row: no split into per-head blocks
     * and no merge back, which were 6% of an embedding's time.
     */
    public INDArray forward(INDArray x, INDArray xkv, INDArray bias, boolean training, boolean keep) {
        if (keep || training || !(projection instanceof SelfProjection self) || xkv != x
                || !FloatKernels.applies(x, scores, bias, probs, merged)) {
            return forward(x, xkv, bias, training);
        }
        INDArray rows = self.project(x);
        INDArray parts = rows.reshape(batch, tq, 3, heads, dk);
        INDArray q = parts.get(all(), all(), point(0), all(), all()).permute(0, 2, 1, 3); // [B, h, T, hd], rows 3d apart
        INDArray k = parts.get(all(), all(), point(1), all(), all()).permute(0, 2, 1, 3);
        INDArray v = parts.get(all(), all(), point(2), all(), all()).permute(0, 2, 1, 3);
        Ops.mm(q, k, scores.reshape(batch, heads, tq, tk), false, true, scale, 0.0);
        maskedSoftmax(scores, bias, probs);
        Ops.mm(probs.reshape(batch, heads, tq, tk), v, merged.reshape(batch, tq, heads, dk).permute(0, 2, 1, 3), false, false,
                1.0, 0.0);
        Linear.forward(merged, out.weight(), out.bias(), output);
        return output;
    }

    /** probs ← softmax(scores + bias) over the last axis ([B·h, Tq, Tk]); scores may be overwritten. */
    public static void maskedSoftmax(INDArray scores, INDArray bias, INDArray probs) {
        if (FloatKernels.applies(scores, bias, probs)) {
            FloatKernels.maskedSoftmax(scores, bias, probs, (int) scores.size(2));
        } else {
            scores.addi(bias);
            Nd4j.exec(new SoftMax(scores, probs, 2));
        }
    }

    /**
     * Back-propagates dOut: parameter gradients accumulate; dL/dxq goes to dxq (added to it when
     * {@code accumulate}) and, for cross-attention, dL/dxkv is added to dxkv (the memory's gradient).
     */
    public void backward(INDArray dOut, INDArray dxq, boolean accumulate, INDArray dxkv, INDArray onesQ, INDArray onesK) {
        Linear.backward(merged, out.weight(), dOut, out.weightGrad(), dbo, dMerged, 0.0, onesQ);
        splitHeads(dMerged, dCtx, tq, 1);
        INDArray p = probDropout.active() ? probDropout.output() : probs;
        Ops.mm(dCtx, projection.v, dProbs, false, true, 1.0, 0.0);
        Ops.mm(p, dCtx, projection.gradV, true, false, 1.0, 0.0);
        if (probDropout.active()) {
            probDropout.backward(dProbs);
        }
        // softmax: dS = P ⊙ (dP − Σ_k P·dP)
        if (FloatKernels.applies(probs, dProbs)) {
            FloatKernels.softmaxBackward(probs, dProbs, (int) tk);
        } else if (HostKernels.enabled()) {
            HostKernels.softmaxBackward(probs, dProbs, (int) tk);
        } else {
            dProbs.mul(probs, dScoreTmp);
            dScoreTmp.sum(rowSum, 2);
            Ops.subBroadcast(dProbs, rowSum, dProbs, 0, 1);
            dProbs.muli(probs);
        }
        Ops.mm(dProbs, projection.k, projection.gradQ, false, false, scale, 0.0);
        Ops.mm(dProbs, projection.q, projection.gradK, true, false, scale, 0.0);
        projection.backward(dxq, accumulate ? 1.0 : 0.0, dxkv, onesQ, onesK);
        dbk.assign(0);
    }

    /**
     * Where Q, K and V come from, as [B·h, T, hd] views, and their gradients go back to: the
     * inputs, the projection weights and their gradients.
     */
    private abstract class Projection {
        INDArray q, k, v, gradQ, gradK, gradV;

        abstract void allocate(DataType type, long nq, long nk, long bh);

        /** Q as part 0 of {@code qs}, K and V as parts {@code kAt} and kAt + 1 of {@code kvs}; their gradients likewise. */
        void bind(Heads qs, Heads kvs, int kAt, Heads dqs, Heads dkvs) {
            q = qs.part(0);
            k = kvs.part(kAt);
            v = kvs.part(kAt + 1);
            gradQ = dqs.part(0);
            gradK = dkvs.part(kAt);
            gradV = dkvs.part(kAt + 1);
        }

        abstract void forward(INDArray xq, INDArray xkv);

        /** From gradQ, gradK and gradV: the weights' gradients, dL/dxq into dxq (dxq·beta added) and dL/dxkv added to dxkv. */
        abstract void backward(INDArray dxq, double beta, INDArray dxkv, INDArray onesQ, INDArray onesK);
    }

    /** One GEMM projects Q, K and V of the same rows against the fused [d, 3d] block. */
    private final class SelfProjection extends Projection {
        private final Weights qkv;
        private final INDArray dbqkv;
        private INDArray xq;
        private Heads values, grads;

        SelfProjection(Weights qkv) {
            this.qkv = qkv;
            this.dbqkv = qkv.biasGradRow();
        }

        @Override
        void allocate(DataType type, long nq, long nk, long bh) {
            values = heads(type, nq, 3, tq, "attention.selfRows");
            grads = scratchHeads("attention.selfGrads", type, nq, 3, tq);
            bind(values, values, 1, grads, grads);
        }

        @Override
        void forward(INDArray xq, INDArray xkv) {
            splitHeads(project(xq), values.heads(), tq, 3);
        }

        /** Q, K and V of xq's rows, [B·T, 3d] as the GEMM writes them (not split into heads). */
        INDArray project(INDArray xq) {
            this.xq = xq;
            Linear.forward(xq, qkv.weight(), qkv.bias(), values.rows());
            return values.rows();
        }

        @Override
        void backward(INDArray dxq, double beta, INDArray dxkv, INDArray onesQ, INDArray onesK) {
            mergeHeads(grads.heads(), grads.rows(), tq, 3);
            Linear.backward(xq, qkv.weight(), grads.rows(), qkv.weightGrad(), dbqkv, dxq, beta, onesQ);
        }
    }

    /** Q from the queries with the block's first d columns; K and V from the memory with the other 2d. */
    private final class CrossProjection extends Projection {
        private final Weights query;
        private final Weights keyValue;
        private INDArray xq, xkv;
        private Heads queries, keysValues, queryGrads, keyValueGrads;

        CrossProjection(Weights qkv) {
            this.query = qkv.columns(0, d);
            this.keyValue = qkv.columns(d, 3 * d);
        }

        @Override
        void allocate(DataType type, long nq, long nk, long bh) {
            queries = heads(type, nq, 1, tq, "attention.crossQueryRows");
            keysValues = heads(type, nk, 2, tk, "attention.crossKeyValueRows");
            queryGrads = scratchHeads("attention.crossQueryGrads", type, nq, 1, tq);
            keyValueGrads = scratchHeads("attention.crossKeyValueGrads", type, nk, 2, tk);
            bind(queries, keysValues, 0, queryGrads, keyValueGrads);
        }

        @Override
        void forward(INDArray xq, INDArray xkv) {
            this.xq = xq;
            this.xkv = xkv;
            Linear.forward(xq, query.weight(), query.bias(), queries.rows());
            Linear.forward(xkv, keyValue.weight(), keyValue.bias(), keysValues.rows());
            splitHeads(queries.rows(), queries.heads(), tq, 1);
            splitHeads(keysValues.rows(), keysValues.heads(), tk, 2);
        }

        @Override
        void backward(INDArray dxq, double beta, INDArray dxkv, INDArray onesQ, INDArray onesK) {
            mergeHeads(queryGrads.heads(), queryGrads.rows(), tq, 1);
            mergeHeads(keyValueGrads.heads(), keyValueGrads.rows(), tk, 2);
            Linear.backward(xq, query.weight(), queryGrads.rows(), query.weightGrad(), query.biasGrad(), dxq, beta, onesQ);
            Linear.backward(xkv, keyValue.weight(), keyValueGrads.rows(), keyValue.weightGrad(), keyValue.biasGrad(), dxkv,
                    1.0, onesK);
        }
    }

    /**
     * A projection's output in two layouts: {@code rows} [N, parts·d] as the GEMM writes it, and
     * {@code heads} [parts, B, h, T, hd], each part (Q, K or V) a [B·h, T, hd] block.
     */
    private record Heads(INDArray rows, INDArray heads, long bh, long t, long dk) {
        INDArray part(int i) {
            return heads.reshape(heads.size(0), bh, t, dk).get(point(i), all(), all(), all());
        }
    }

    /** A projection's output: its rows are scratch (the heads are what backward reads), shared as {@code rowsSlot}. */
    private Heads heads(DataType type, long n, int parts, long t, String rowsSlot) {
        return new Heads(Ops.scratch(rowsSlot, type, n, parts * d), Ops.buffer(type, parts, batch, heads, t, dk), batch * heads, t, dk);
    }

    /** Heads in shared scratch memory: gradients, written and read within one backward call. */
    private Heads scratchHeads(String slot, DataType type, long n, int parts, long t) {
        return new Heads(Ops.scratch(slot + ".rows", type, n, parts * d), Ops.scratch(slot + ".heads", type, parts, batch, heads, t, dk),
                batch * heads, t, dk);
    }

    /** dst [parts, B, h, T, hd] ← src [B·T, parts·d]: the heads of each projection, one block each. */
    private void splitHeads(INDArray src, INDArray dst, long t, int parts) {
        permuteHeads(src, dst, t, parts, false);
    }

    /** dst [B·T, parts·d] ← src [parts, B, h, T, hd]: the inverse of {@link #splitHeads}. */
    private void mergeHeads(INDArray src, INDArray dst, long t, int parts) {
        permuteHeads(src, dst, t, parts, true);
    }

    private void permuteHeads(INDArray src, INDArray dst, long t, int parts, boolean merge) {
        if (FloatKernels.applies(src, dst)) {
            FloatKernels.permuteHeads(src, dst, (int) batch, (int) t, parts, heads, (int) dk, merge);
        } else if (merge) {
            dst.reshape(batch, t, parts, heads, dk).assign(src.reshape(parts, batch, heads, t, dk).permute(1, 3, 0, 2, 4));
        } else {
            dst.reshape(parts, batch, heads, t, dk).assign(src.reshape(batch, t, parts, heads, dk).permute(2, 0, 3, 1, 4));
        }
    }
}
