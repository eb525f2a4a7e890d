package io.sparkformer.model.inference;

import java.util.Arrays;
import java.util.List;

/**
 * The order inference batches rows in: longest first, so rows of similar length share a batch
 * (little padding) and the first batch's buffers hold every later one's (see BufferSet).
 */
final class LengthOrder {
    private LengthOrder() {}

    /** The indices of {@code rows}, longest row first (a stable sort: equal lengths keep their order). */
    static Integer[] longestFirst(List<int[]> rows) {
        Integer[] order = new Integer[rows.size()];
        for (int i = 0; i < order.length; i++) {
            order[i] = i;
        }
        Arrays.sort(order, (a, b) -> Integer.compare(rows.get(b).length, rows.get(a).length));
        return order;
    }
}
