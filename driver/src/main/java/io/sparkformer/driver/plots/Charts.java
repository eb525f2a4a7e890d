package io.sparkformer.driver.plots;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.util.List;

import org.apache.hadoop.conf.Configuration;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.internal.chartpart.Chart;

import io.sparkformer.driver.corpus.HadoopFiles;

/** Writes XChart charts as one PNG (a grid of panels) to any Hadoop FS path, atomically. */
public final class Charts {
    private Charts() {}

    public static <T extends Chart<?, ?>> void writePng(List<T> charts, int rows, int cols, String path, Configuration conf)
            throws IOException {
        ByteArrayOutputStream png = new ByteArrayOutputStream();
        if (charts.size() == 1) {
            BitmapEncoder.saveBitmap(charts.get(0), png, BitmapEncoder.BitmapFormat.PNG);
        } else {
            BitmapEncoder.saveBitmap(charts, rows, cols, png, BitmapEncoder.BitmapFormat.PNG);
        }
        HadoopFiles.writeAtomically(path, png.toByteArray(), conf);
    }
}
