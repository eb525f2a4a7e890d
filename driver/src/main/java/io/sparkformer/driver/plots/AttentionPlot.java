package io.sparkformer.driver.plots;

import java.awt.Color;
import java.io.IOException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import org.apache.hadoop.conf.Configuration;
import org.knowm.xchart.HeatMapChart;
import org.knowm.xchart.HeatMapChartBuilder;

/** Attention weights as heatmaps, one panel per head: keys across, queries down. */
public final class AttentionPlot {
    private AttentionPlot() {}

    /**
     * @param weights [heads][queries][keys] probabilities
     * @param queries labels of the query tokens, keys labels of the key tokens
     */
    public static void write(double[][][] weights, List<String> queries, List<String> keys, String title, String path,
                             Configuration conf) throws IOException {
        List<HeatMapChart> panels = new ArrayList<>();
        List<String> x = unique(keys);
        List<String> y = unique(queries);
        int side = Math.max(360, 18 * Math.max(x.size(), y.size()) + 140);
        for (int h = 0; h < weights.length; h++) {
            HeatMapChart chart = new HeatMapChartBuilder().width(side).height(side).title(title + ", head " + h)
                    .xAxisTitle("key").yAxisTitle("query").build();
            chart.getStyler().setLegendVisible(false);
            chart.getStyler().setShowValue(false);
            chart.getStyler().setMin(0.0);
            chart.getStyler().setMax(1.0);
            chart.getStyler().setRangeColors(new Color[] {Color.WHITE, new Color(255, 200, 120), new Color(180, 30, 30)});
            chart.getStyler().setXAxisLabelRotation(90);
            List<Number[]> cells = new ArrayList<>();
            for (int q = 0; q < y.size(); q++) {
                for (int k = 0; k < x.size(); k++) {
                    // XChart draws the first y category at the bottom: flip so query 0 is on top
                    cells.add(new Number[] {k, y.size() - 1 - q, weights[h][q][k]});
                }
            }
            List<String> yTopDown = new ArrayList<>(y);
            java.util.Collections.reverse(yTopDown);
            chart.addSeries("attention", x, yTopDown, cells);
            panels.add(chart);
        }
        int cols = Math.min(4, panels.size());
        int rows = (panels.size() + cols - 1) / cols;
        Charts.writePng(panels, rows, cols, path, conf);
    }

    /** Axis categories must differ: repeated tokens get invisible suffixes. */
    static List<String> unique(List<String> labels) {
        Map<String, Integer> seen = new HashMap<>();
        List<String> out = new ArrayList<>();
        for (String l : labels) {
            int n = seen.merge(l, 1, Integer::sum);
            out.add(l + "\u200B".repeat(n - 1));
        }
        return out;
    }

    /** A token as a readable label: whitespace made visible. */
    public static String label(String token) {
        return token.replace(" ", "\u2423").replace("\n", "\u23CE").replace("\t", "\u21E5");
    }
}
