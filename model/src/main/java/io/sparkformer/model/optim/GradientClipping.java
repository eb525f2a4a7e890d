package io.sparkformer.model.optim;

import io.sparkformer.model.ParameterBuffer;

/** Global-norm clipping over the whole gradient buffer, as torch.nn.utils.clip_grad_norm_. */
public final class GradientClipping {
    private GradientClipping() {}

    /** Scales grads so their L2 norm is at most maxNorm (when maxNorm > 0); returns the norm before. */
    public static double clip(ParameterBuffer grads, double maxNorm) {
        double norm = grads.flat().norm2Number().doubleValue();
        if (maxNorm > 0) {
            double coef = maxNorm / (norm + 1e-6);
            if (coef < 1.0) {
                grads.flat().muli(coef);
            }
        }
        return norm;
    }
}
