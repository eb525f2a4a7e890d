package io.sparkformer.driver.plots;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

import org.apache.hadoop.conf.Configuration;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.style.markers.SeriesMarkers;

import com.fasterxml.jackson.databind.node.ObjectNode;

/** loss.png: train and validation loss against tokens seen, drawn with XChart. */
public final class LossPlot {
    private LossPlot() {}

    public static void write(List<ObjectNode> rows, String path, Configuration conf) throws IOException {
        List<Double> tx = new ArrayList<>();
        List<Double> ty = new ArrayList<>();
        List<Double> vx = new ArrayList<>();
        List<Double> vy = new ArrayList<>();
        for (ObjectNode r : rows) {
            double tokens = r.get("tokens").asDouble();
            if (r.hasNonNull("train_loss") && Double.isFinite(r.get("train_loss").asDouble())) {
                tx.add(tokens);
                ty.add(r.get("train_loss").asDouble());
            }
            if (r.hasNonNull("val_loss")) {
                vx.add(tokens);
                vy.add(r.get("val_loss").asDouble());
            }
        }
        if (tx.isEmpty()) {
            return;
        }
        XYChart chart = new XYChartBuilder().width(900).height(540).title("Loss").xAxisTitle("tokens seen")
                .yAxisTitle("loss (nats per token)").build();
        chart.getStyler().setMarkerSize(4);
        chart.getStyler().setXAxisDecimalPattern("#,###");
        chart.getStyler().setYAxisDecimalPattern("0.00");
        chart.addSeries("train", tx, ty).setMarker(SeriesMarkers.NONE);
        if (!vx.isEmpty()) {
            chart.addSeries("validation", vx, vy).setMarker(SeriesMarkers.CIRCLE);
        }
        Charts.writePng(List.of(chart), 1, 1, path, conf);
    }
}
