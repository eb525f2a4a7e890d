package io.sparkformer.model.layers;

import static org.nd4j.linalg.indexing.NDArrayIndex.interval;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * x = tok_emb[ids]·(√d if scaled) + P[0:T] (+ type_emb[types], BERT's token types, when the model
 * has them; a batch without types is all type 0). P is the learned pos_emb parameter or the fixed
 * sinusoidal table.
 */
public final class Embedding {
    private final INDArray table;
    private final INDArray tableGrad;
    private final INDArray positions;     // [max_len, d]
    private final INDArray positionsGrad; // null for sinusoidal
    private final double scale;
    private final long d;
    private INDArray typeTable;     // [types, d], or null
    private INDArray typeTableGrad;
    private INDArray types;         // INT32 [B·T]
    private INDArray typeRows;      // [B·T, d]

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

    /** Adds token-type embeddings: {@code table} [types, d] and its gradient. */
    public Embedding withTypes(INDArray table, INDArray tableGrad) {
        this.typeTable = table;
        this.typeTableGrad = tableGrad;
        return this;
    }

    public void allocate(DataType type, long batch, long length) {
        this.batch = batch;
        this.length = length;
        out = Ops.buffer(type, batch * length, d);
        types = typeTable != null ? Ops.buffer(DataType.INT32, batch * length) : null;
        typeRows = typeTable != null ? Ops.buffer(type, batch * length, d) : null;
        scaled = scale != 1.0 ? Ops.buffer(type, batch * length, d) : null;
        onesB = Ops.ones(type, batch);
    }

    public INDArray output() { return out; }

    /** ids: INT32 [B·T]. */
    public INDArray forward(INDArray ids) {
        return forward(ids, null);
    }

    /** ids: INT32 [B·T]; tokenTypes: each token's type (null: all 0), read when the model has token types. */
    public INDArray forward(INDArray ids, int[] tokenTypes) {
        this.ids = ids;
        Ops.gatherRows(table, ids, out);
        if (scale != 1.0) {
            out.muli(scale);
        }
        out.reshape(batch, length * d).addiRowVector(positions.get(interval(0, length)).reshape(length * d));
        if (typeTable != null) {
            int[] t = tokenTypes != null ? tokenTypes : new int[(int) (batch * length)];
            for (int v : t) {
                if (v < 0 || v >= typeTable.size(0)) {
                    throw new IllegalArgumentException("token type " + v + " is outside [0, " + typeTable.size(0) + ")");
                }
            }
            Ops.assignAndFree(types, org.nd4j.linalg.factory.Nd4j.createFromArray(t));
            Ops.gatherRows(typeTable, types, typeRows);
            out.addi(typeRows);
        }
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
        if (typeTableGrad != null) {
            Ops.scatterAddRows(typeTableGrad, types, dOut);
        }
    }
}
