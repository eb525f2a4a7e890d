package io.sparkformer.model.optim;

import org.nd4j.linalg.api.ndarray.INDArray;

import io.sparkformer.model.ParameterBuffer;
import io.sparkformer.model.layers.HostKernels;

/** Global-norm clipping over the whole gradient buffer, as torch.nn.utils.clip_grad_norm_. */
public final class GradientClipping {
    private GradientClipping() {}

    /** Scales grads so their L2 norm is at most maxNorm (when maxNorm > 0); returns the norm before. */
    public static double clip(ParameterBuffer grads, double maxNorm) {
        INDArray flat = grads.flat();
        boolean host = HostKernels.floatLoops(flat);
        // libnd4j's norm splits the sum over its threads, so its last bits follow the thread count
        double norm = host ? Math.sqrt(HostKernels.sumOfSquares(flat)) : flat.norm2Number().doubleValue();
        if (maxNorm > 0) {
            double coef = maxNorm / (norm + 1e-6);
            if (coef < 1.0) {
                if (host) {
                    HostKernels.scale(flat, coef);
                } else {
                    flat.muli(coef);
                }
            }
        }
        return norm;
    }
}
