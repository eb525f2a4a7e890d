package io.sparkformer.model.layers;

import static org.nd4j.linalg.indexing.NDArrayIndex.interval;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * x = tok_emb[ids]·(√d if scaled) + P[0:T]. P is the learned pos_emb parameter or the fixed
 * sinusoidal table.
 */
public final class Embedding {
    private final INDArray table;
    private final INDArray tableGrad;
    private final INDArray positions;     // [max_len, d]
    private final INDArray positionsGrad; // null for sinusoidal
    private final double scale;
    private final long d;

    private long batch, length;
    private INDArray ids;
    private INDArray out;
    private INDArray scaled;
    private INDArray onesB;

    public Embedding(INDArray table, INDArray tableGrad, INDArray positions, INDArray positionsGrad, boolean scaleBySqrtD) {
        this.table = table;
        this.tableGrad = tableGrad;
        this.positions = positions;
        this.positionsGrad = positionsGrad;
        this.d = table.size(1);
        this.scale = scaleBySqrtD ? Math.sqrt(d) : 1.0;
    }

    public void allocate(DataType type, long batch, long length) {
        this.batch = batch;
        this.length = length;
        out = Ops.buffer(type, batch * length, d);
        scaled = scale != 1.0 ? Ops.buffer(type, batch * length, d) : null;
        onesB = Ops.ones(type, batch);
    }

    public INDArray output() { return out; }

    /** ids: INT32 [B·T]. */
    public INDArray forward(INDArray ids) {
        this.ids = ids;
        Ops.gatherRows(table, ids, out);
        if (scale != 1.0) {
            out.muli(scale);
        }
        out.reshape(batch, length * d).addiRowVector(positions.get(interval(0, length)).reshape(length * d));
        return out;
    }

    public void backward(INDArray dOut) {
        INDArray rows = dOut;
        if (scale != 1.0) {
            dOut.mul(scale, scaled);
            rows = scaled;
        }
        if (HostKernels.enabled()) {
            HostKernels.scatterAddRows(tableGrad, ids.toIntVector(), rows);
        } else {
            Ops.scatterAddRows(tableGrad, ids, rows);
        }
        if (positionsGrad != null) {
            INDArray dPos = positionsGrad.get(interval(0, length)).reshape(1, length * d);
            Ops.mm(onesB, dOut.reshape(batch, length * d), dPos, false, false, 1.0, 1.0);
        }
    }
}
