package io.sparkformer.driver.training;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import io.sparkformer.driver.corpus.HadoopFiles;
import io.sparkformer.model.ConfigException;

/**
 * A run directory's checkpoints: {@code checkpoints/round-NNNNNN/}, each complete once its
 * {@code state.json} is there (written last), and the {@code latest} pointer, moved after it.
 */
public final class RunCheckpoints {
    private static final Logger LOG = LoggerFactory.getLogger(RunCheckpoints.class);
    public static final String POINTER = "latest";
    public static final String STATE = "state.json";
    /** checkpoint.best: the pointer to the weights of the lowest validation loss, and their directory. */
    public static final String BEST = "best";
    static final String BEST_DIR = "best-weights";
    private static final Pattern BEST_NAME = Pattern.compile(BEST_DIR + "/round-(\\d{6,18})");
    private static final Pattern NAME = Pattern.compile("checkpoints/round-(\\d{6,18})");
    /** A pointer holds one short name; anything longer is not one. */
    private static final long POINTER_MAX_BYTES = 4096;

    private RunCheckpoints() {}

    /** The directory name of the best weights as of round r, relative to the run. */
    static String bestName(long round) {
        return String.format(BEST_DIR + "/round-%06d", round);
    }

    /**
     * The directory the run's {@code best} pointer names (weights, tokenizer, config and the
     * state of the round that scored lowest), or null when the run has no pointer.
     */
    public static String best(String runDir, Configuration conf) throws IOException {
        String pointer = runDir + "/" + BEST;
        return HadoopFiles.exists(pointer, conf) ? named(runDir, pointer, BEST_NAME, "best weights", conf) : null;
    }

    /**
     * The complete directory of this run that {@code pointer} names, or an error naming the
     * pointer: a file too large to be one, a name outside {@code shape} (another place), or a
     * directory without its state.json.
     */
    private static String named(String runDir, String pointer, Pattern shape, String what, Configuration conf)
            throws IOException {
        Path p = new Path(pointer);
        long size = p.getFileSystem(conf).getFileStatus(p).getLen();
        if (size > POINTER_MAX_BYTES) {
            throw new ConfigException(pointer, "holds " + size + " bytes: not a pointer to " + what);
        }
        String name = new String(HadoopFiles.read(pointer, conf), StandardCharsets.UTF_8).trim();
        if (!shape.matcher(name).matches()) {
            throw new ConfigException(pointer, "names \"" + abbreviate(name) + "\", not " + what + " of this run ("
                    + shape.pattern().replace("(\\d{6,18})", "NNNNNN") + ")");
        }
        String dir = runDir + "/" + name;
        if (!HadoopFiles.exists(dir + "/" + STATE, conf)) {
            throw new ConfigException(pointer, "names " + dir + ", which is incomplete (no " + STATE + ")");
        }
        return dir;
    }

    /** Deletes the best-weights directories other than {@code keep} (relative to the run); called once the pointer has moved. */
    static void pruneBest(String runDir, String keep, Configuration conf) throws IOException {
        Path dir = new Path(runDir, BEST_DIR);
        FileSystem fs = dir.getFileSystem(conf);
        for (FileStatus s : fs.listStatus(dir)) {
            if (!(BEST_DIR + "/" + s.getPath().getName()).equals(keep)) {
                fs.delete(s.getPath(), true);
            }
        }
    }

    /** The directory name of round r's checkpoint, relative to the run. */
    static String name(long round) {
        return String.format("checkpoints/round-%06d", round);
    }

    /**
     * The run's newest complete checkpoint (a path), or null when it has none. The pointer is
     * trusted only to name a complete checkpoint of this run; the newest complete one is also
     * found by listing, and wins when it is newer (a crash before the pointer moved) or when
     * there is no pointer (lost, or a crash before the first one moved).
     */
    public static String latest(String runDir, Configuration conf) throws IOException {
        String pointer = runDir + "/" + POINTER;
        if (HadoopFiles.exists(pointer, conf)) {
            String dir = named(runDir, pointer, NAME, "a checkpoint", conf);
            // a crash after a checkpoint's state.json and before the pointer moved leaves a newer complete one
            String newest = newestComplete(runDir, conf);
            if (newest != null && roundOf(newest) > roundOf(dir)) {
                LOG.warn("{} names {}; the newer complete checkpoint {} is used", pointer, dir, newest);
                return newest;
            }
            return dir;
        }
        String newest = newestComplete(runDir, conf);
        if (newest != null) {
            LOG.warn("{} has no {} pointer; its newest complete checkpoint is {}", runDir, POINTER, newest);
        }
        return newest;
    }

    /** Moves the pointer to {@code checkpointDir} (a complete checkpoint of this run) unless it names it already. */
    static void pointTo(String runDir, String checkpointDir, Configuration conf) throws IOException {
        String name = checkpointDir.substring(runDir.length() + 1);
        String pointer = runDir + "/" + POINTER;
        if (HadoopFiles.exists(pointer, conf)
                && new String(HadoopFiles.read(pointer, conf), StandardCharsets.UTF_8).trim().equals(name)) {
            return;
        }
        LOG.info("{} now names {}", pointer, name);
        HadoopFiles.writeAtomically(pointer, name.getBytes(StandardCharsets.UTF_8), conf);
    }

    /** True when the run directory holds any checkpoint directory, complete or not. */
    static boolean anyCheckpoint(String runDir, Configuration conf) throws IOException {
        Path dir = new Path(runDir, "checkpoints");
        FileSystem fs = dir.getFileSystem(conf);
        return fs.exists(dir) && fs.listStatus(dir).length > 0;
    }

    private static String newestComplete(String runDir, Configuration conf) throws IOException {
        return checkpoints(runDir, conf).entrySet().stream().filter(Map.Entry::getValue).map(Map.Entry::getKey)
                .findFirst().map(r -> runDir + "/" + name(r)).orElse(null);
    }

    /** The run's checkpoint directories, newest first: round → complete (state.json present). */
    private static java.util.TreeMap<Long, Boolean> checkpoints(String runDir, Configuration conf) throws IOException {
        java.util.TreeMap<Long, Boolean> out = new java.util.TreeMap<>(java.util.Comparator.reverseOrder());
        Path dir = new Path(runDir, "checkpoints");
        FileSystem fs = dir.getFileSystem(conf);
        if (!fs.exists(dir)) {
            return out;
        }
        for (FileStatus s : fs.listStatus(dir)) {
            Matcher m = NAME.matcher("checkpoints/" + s.getPath().getName());
            if (s.isDirectory() && m.matches()) {
                out.put(Long.parseLong(m.group(1)), fs.exists(new Path(s.getPath(), STATE)));
            }
        }
        return out;
    }

    /**
     * Deletes all but the newest {@code keep} complete checkpoints older than the one the
     * pointer names (which always stays), and incomplete ones older than it; called once the
     * pointer has moved. {@code keep} 0 keeps every checkpoint. Returns the rounds deleted.
     */
    static List<Long> prune(String runDir, long current, int keep, Configuration conf) throws IOException {
        List<Long> deleted = new ArrayList<>();
        if (keep <= 0) {
            return deleted;
        }
        FileSystem fs = new Path(runDir).getFileSystem(conf);
        var older = checkpoints(runDir, conf).tailMap(current, false);
        int kept = 1; // the current one
        for (Map.Entry<Long, Boolean> e : older.entrySet()) {
            if (e.getValue() && kept < keep) {
                kept++;
                continue;
            }
            fs.delete(new Path(runDir, name(e.getKey())), true);
            deleted.add(e.getKey());
        }
        return deleted;
    }

    private static long roundOf(String checkpoint) {
        return Long.parseLong(checkpoint.substring(checkpoint.lastIndexOf('-') + 1));
    }

    private static String abbreviate(String s) {
        String oneLine = s.replaceAll("\\p{Cntrl}", "?");
        return oneLine.length() > 80 ? oneLine.substring(0, 80) + "..." : oneLine;
    }
}
