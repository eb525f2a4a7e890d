package io.sparkformer.driver.ml;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.function.Function;

import org.apache.spark.sql.Row;

/**
 * A partition's rows through a stage a chunk at a time: a task holds one chunk of inputs and its
 * outputs, never the partition, and the rows come out in the order they went in.
 */
final class ChunkedRows implements Iterator<Row> {
    /** Rows a task holds at a time: the ones it sorts by length into batches. */
    static final int CHUNK = 4096;

    private final Iterator<Row> rows;
    private final Function<List<Row>, List<Row>> stage;
    private final List<Row> ready = new ArrayList<>();
    private int next;

    ChunkedRows(Iterator<Row> rows, Function<List<Row>, List<Row>> stage) {
        this.rows = rows;
        this.stage = stage;
    }

    @Override
    public boolean hasNext() {
        if (next < ready.size()) {
            return true;
        }
        ready.clear();
        next = 0;
        List<Row> chunk = new ArrayList<>(CHUNK);
        while (chunk.size() < CHUNK && rows.hasNext()) {
            chunk.add(rows.next());
        }
        if (!chunk.isEmpty()) {
            List<Row> out = stage.apply(chunk);
            if (out.size() != chunk.size()) {
                throw new IllegalStateException(chunk.size() + " rows in, " + out.size() + " out");
            }
            ready.addAll(out);
        }
        return !ready.isEmpty();
    }

    @Override
    public Row next() {
        if (!hasNext()) {
            throw new NoSuchElementException();
        }
        return ready.get(next++);
    }

    /** The chunk's texts in {@code column} that are neither null nor empty; {@code at} gets their rows' indices. */
    static List<String> texts(List<Row> chunk, int column, List<Integer> at) {
        List<String> texts = new ArrayList<>();
        for (int i = 0; i < chunk.size(); i++) {
            String text = chunk.get(i).isNullAt(column) ? null : chunk.get(i).getString(column);
            if (text != null && !text.isEmpty()) {
                texts.add(text);
                at.add(i);
            }
        }
        return texts;
    }

    /** Each row of {@code chunk} with its {@code width} new values after its own: outputs[i], or nulls where that is null. */
    static List<Row> withOutputs(List<Row> chunk, Object[][] outputs, int width) {
        List<Row> out = new ArrayList<>(chunk.size());
        for (int i = 0; i < chunk.size(); i++) {
            Row row = chunk.get(i);
            Object[] values = new Object[row.length() + width];
            for (int c = 0; c < row.length(); c++) {
                values[c] = row.get(c);
            }
            if (outputs[i] != null) {
                System.arraycopy(outputs[i], 0, values, row.length(), width);
            }
            out.add(org.apache.spark.sql.RowFactory.create(values));
        }
        return out;
    }
}
