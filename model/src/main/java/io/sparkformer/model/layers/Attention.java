package io.sparkformer.model.layers;

import static org.nd4j.linalg.indexing.NDArrayIndex.all;
import static org.nd4j.linalg.indexing.NDArrayIndex.interval;
import static org.nd4j.linalg.indexing.NDArrayIndex.point;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.impl.transforms.custom.SoftMax;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Multi-head attention, all heads at once. Self-attention projects Q, K and V with one GEMM
 * against the fused [d, 3d] weight; cross-attention projects Q from the queries and K, V from the
 * memory with the same block split in columns. Scores for every (batch, head) pair come from one
 * batched matmul. Blocked pairs get an additive bias of −1e9, so their probability is exactly 0
 * and a fully blocked row (never the case in valid batches) degrades to uniform, not NaN.
 */
public final class Attention {
    private final boolean cross;
    private final int heads;
    private final long d;
    private final long dk;
    private final double scale;
    private final Dropout probDropout;

    private final INDArray wqkv, bqkv, wo, bo;
    private final INDArray dwqkv, dbqkv, dwo, dbo;
    // Cross-attention views: query and key/value column ranges of the fused block.
    private final INDArray wq, wkv, bq, bkv, dwq, dwkv, dbq, dbkv;
    private final INDArray dbk;

    private long batch, tq, tk;
    private INDArray xq, xkv;
    private INDArray proj;     // self: [N, 3d]; cross: q [Nq, d]
    private INDArray projKv;   // cross: [Nk, 2d]
    private INDArray heads5;   // self: [3, B, h, T, dk]; cross: q heads [B, h, Tq, dk]
    private INDArray kvHeads;  // cross: [2, B, h, Tk, dk]
    private INDArray q, k, v;  // [B·h, T, dk] views
    private INDArray scores, probs;
    private INDArray ctx, merged, out;
    private INDArray dMerged, dCtx, dProbs, dScoreTmp, rowSum;
    private INDArray dHeads5, dKvHeads, dq, dk3, dv, dProj, dProjKv;

    public Attention(boolean cross, int heads, INDArray wqkv, INDArray bqkv, INDArray wo, INDArray bo,
                     INDArray dwqkv, INDArray dbqkv, INDArray dwo, INDArray dbo, Dropout probDropout) {
        this.cross = cross;
        this.heads = heads;
        this.d = wo.size(0);
        this.dk = d / heads;
        this.scale = 1.0 / Math.sqrt(dk);
        this.probDropout = probDropout;
        this.wqkv = wqkv;
        this.bqkv = bqkv;
        this.wo = wo;
        this.bo = bo;
        this.dwqkv = dwqkv;
        this.dbqkv = dbqkv.reshape(1, dbqkv.length());
        this.dwo = dwo;
        this.dbo = dbo.reshape(1, dbo.length());
        // The key bias shifts every score of a query row by the same amount, which softmax ignores:
        // its gradient is exactly zero. Computed, it is round-off that Adam would blow up to
        // full-size steps, so it is set to zero instead.
        this.dbk = this.dbqkv.get(all(), interval(d, 2 * d));
        if (cross) {
            wq = wqkv.get(all(), interval(0, d));
            wkv = wqkv.get(all(), interval(d, 3 * d));
            bq = bqkv.get(interval(0, d));
            bkv = bqkv.get(interval(d, 3 * d));
            dwq = dwqkv.get(all(), interval(0, d));
            dwkv = dwqkv.get(all(), interval(d, 3 * d));
            dbq = this.dbqkv.get(all(), interval(0, d));
            dbkv = this.dbqkv.get(all(), interval(d, 3 * d));
        } else {
            wq = wkv = bq = bkv = dwq = dwkv = dbq = dbkv = null;
        }
    }

    public void allocate(DataType type, long batch, long tq, long tk) {
        this.batch = batch;
        this.tq = tq;
        this.tk = tk;
        long nq = batch * tq;
        long nk = batch * tk;
        long bh = batch * heads;
        if (cross) {
            proj = Ops.buffer(type, nq, d);
            projKv = Ops.buffer(type, nk, 2 * d);
            heads5 = Ops.buffer(type, batch, heads, tq, dk);
            kvHeads = Ops.buffer(type, 2, batch, heads, tk, dk);
            q = heads5.reshape(bh, tq, dk);
            INDArray kv = kvHeads.reshape(2, bh, tk, dk);
            k = kv.get(point(0), all(), all(), all());
            v = kv.get(point(1), all(), all(), all());
            dProj = Ops.buffer(type, nq, d);
            dProjKv = Ops.buffer(type, nk, 2 * d);
            dHeads5 = Ops.buffer(type, batch, heads, tq, dk);
            dKvHeads = Ops.buffer(type, 2, batch, heads, tk, dk);
            dq = dHeads5.reshape(bh, tq, dk);
            INDArray dkv = dKvHeads.reshape(2, bh, tk, dk);
            dk3 = dkv.get(point(0), all(), all(), all());
            dv = dkv.get(point(1), all(), all(), all());
        } else {
            proj = Ops.buffer(type, nq, 3 * d);
            heads5 = Ops.buffer(type, 3, batch, heads, tq, dk);
            INDArray qkv = heads5.reshape(3, bh, tq, dk);
            q = qkv.get(point(0), all(), all(), all());
            k = qkv.get(point(1), all(), all(), all());
            v = qkv.get(point(2), all(), all(), all());
            dProj = Ops.buffer(type, nq, 3 * d);
            dHeads5 = Ops.buffer(type, 3, batch, heads, tq, dk);
            INDArray dqkv = dHeads5.reshape(3, bh, tq, dk);
            dq = dqkv.get(point(0), all(), all(), all());
            dk3 = dqkv.get(point(1), all(), all(), all());
            dv = dqkv.get(point(2), all(), all(), all());
        }
        scores = Ops.buffer(type, bh, tq, tk);
        probs = Ops.buffer(type, bh, tq, tk);
        dProbs = Ops.buffer(type, bh, tq, tk);
        dScoreTmp = Ops.buffer(type, bh, tq, tk);
        rowSum = Ops.buffer(type, bh, tq);
        ctx = Ops.buffer(type, bh, tq, dk);
        dCtx = Ops.buffer(type, bh, tq, dk);
        merged = Ops.buffer(type, nq, d);
        dMerged = Ops.buffer(type, nq, d);
        out = Ops.buffer(type, nq, d);
        probDropout.allocate(type, bh, tq, tk);
    }

    public INDArray output() { return out; }

    /** The attention probabilities of the last forward pass, [B·h, Tq, Tk]. */
    public INDArray probabilities() { return probs; }

    /**
     * @param xq   queries [B·Tq, d]
     * @param xkv  keys and values [B·Tk, d]; the same array as xq for self-attention
     * @param bias additive mask [B·h, Tq, Tk]: 0 where allowed, −1e9 where blocked
     */
    public INDArray forward(INDArray xq, INDArray xkv, INDArray bias, boolean training) {
        this.xq = xq;
        this.xkv = xkv;
        if (cross) {
            Linear.forward(xq, wq, bq, proj);
            Linear.forward(xkv, wkv, bkv, projKv);
            splitHeads(proj, heads5, tq, 1);
            splitHeads(projKv, kvHeads, tk, 2);
        } else {
            Linear.forward(xq, wqkv, bqkv, proj);
            splitHeads(proj, heads5, tq, 3);
        }
        Ops.mm(q, k, scores, false, true, scale, 0.0);
        if (FloatKernels.applies(scores, bias, probs)) {
            FloatKernels.maskedSoftmax(scores, bias, probs, (int) tk);
        } else {
            scores.addi(bias);
            Nd4j.exec(new SoftMax(scores, probs, 2));
        }
        INDArray p = probDropout.forward(probs, training);
        Ops.mm(p, v, ctx, false, false, 1.0, 0.0);
        mergeHeads(ctx, merged, tq, 1);
        Linear.forward(merged, wo, bo, out);
        return out;
    }

    /**
     * Back-propagates dOut: parameter gradients accumulate; dL/dxq goes to dxq and, for
     * cross-attention, dL/dxkv is added to dxkv (the encoder memory's gradient).
     */
    public void backward(INDArray dOut, INDArray dxq, boolean accumulate, INDArray dxkv, INDArray onesQ, INDArray onesK) {
        Linear.backward(merged, wo, dOut, dwo, dbo, dMerged, 0.0, onesQ);
        splitHeads(dMerged, dCtx, tq, 1);
        INDArray p = probDropout.active() ? probDropout.output() : probs;
        Ops.mm(dCtx, v, dProbs, false, true, 1.0, 0.0);
        Ops.mm(p, dCtx, dv, true, false, 1.0, 0.0);
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
        Ops.mm(dProbs, k, dq, false, false, scale, 0.0);
        Ops.mm(dProbs, q, dk3, true, false, scale, 0.0);
        if (cross) {
            mergeHeads(dHeads5, dProj, tq, 1);
            mergeHeads(dKvHeads, dProjKv, tk, 2);
            Linear.backward(xq, wq, dProj, dwq, dbq, dxq, accumulate ? 1.0 : 0.0, onesQ);
            Linear.backward(xkv, wkv, dProjKv, dwkv, dbkv, dxkv, 1.0, onesK);
        } else {
            mergeHeads(dHeads5, dProj, tq, 3);
            Linear.backward(xq, wqkv, dProj, dwqkv, dbqkv, dxq, accumulate ? 1.0 : 0.0, onesQ);
        }
        dbk.assign(0);
    }

    /** dst [parts, B, h, T, dk] ← src [B·T, parts·d]: the heads of each projection, one block each. */
    private void splitHeads(INDArray src, INDArray dst, long t, int parts) {
        if (FloatKernels.applies(src, dst)) {
            FloatKernels.permuteHeads(src, dst, (int) batch, (int) t, parts, heads, (int) dk, false);
        } else {
            dst.reshape(parts, batch, heads, t, dk).assign(src.reshape(batch, t, parts, heads, dk).permute(2, 0, 3, 1, 4));
        }
    }

    /** dst [B·T, parts·d] ← src [parts, B, h, T, dk]: the inverse of {@link #splitHeads}. */
    private void mergeHeads(INDArray src, INDArray dst, long t, int parts) {
        if (FloatKernels.applies(src, dst)) {
            FloatKernels.permuteHeads(src, dst, (int) batch, (int) t, parts, heads, (int) dk, true);
        } else {
            dst.reshape(batch, t, parts, heads, dk).assign(src.reshape(parts, batch, heads, t, dk).permute(1, 3, 0, 2, 4));
        }
    }
}
