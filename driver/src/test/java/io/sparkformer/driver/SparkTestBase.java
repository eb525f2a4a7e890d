package io.sparkformer.driver;

import java.nio.file.Files;
import java.nio.file.Path;

import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaSparkContext;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assertions;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;

import io.sparkformer.model.Nd4jRuntime;

/** One local-mode Spark context (2 threads) for a test class. */
public abstract class SparkTestBase {
    protected static JavaSparkContext sc;

    @BeforeAll
    static void startSpark() {
        Nd4jRuntime.init();
        SparkConf conf = new SparkConf().setMaster("local[2]").setAppName("sparkformer-test")
                .set("spark.ui.enabled", "false").set("spark.driver.host", "127.0.0.1")
                .set("spark.sql.shuffle.partitions", "2");
        sc = new JavaSparkContext(conf);
        sc.setLogLevel("WARN");
    }

    @AfterAll
    static void stopSpark() {
        if (sc != null) {
            sc.stop();
            sc = null;
        }
    }

    public static Path shared() {
        Path root = Path.of(System.getProperty("sparkformer.root", ".."));
        Path dir = Path.of(System.getProperty("shared.dir", root.resolve("../shared").toString()));
        if (!dir.isAbsolute()) {
            dir = root.resolve(dir);
        }
        if (!Files.isDirectory(dir)) {
            String msg = "shared data not found at " + dir;
            if ("true".equalsIgnoreCase(System.getenv("CI"))) {
                Assertions.fail(msg + "; CI must have it");
            }
            System.err.println("SKIPPED: " + msg);
            Assumptions.abort(msg);
        }
        return dir.normalize();
    }
}
