"""The command lines of Sparkformer's scheduled retraining, shared by the Airflow DAG
(sparkformer_retrain.py) and by the project's test, which runs exactly these lines.

For a logical date DS:
  train    spark-submit ... train --config CONFIG --set data.inputs=[DATA_ROOT/DS] --output RUNS_ROOT/DS
                                  --warm-start MODELS --resume
           warm-starts from the model MODELS/current points to (from scratch before the first
           promotion); the config's data.validation names a fixed validation set; a rerun of the
           same date resumes its run directory, or does nothing when that run already finished.
  promote  spark-submit ... promote --run RUNS_ROOT/DS --models MODELS
           moves MODELS/current to the new model only if its validation loss is lower, and writes
           why in RUNS_ROOT/DS/promotion.json. Rerunning it changes nothing.

Settings come from the environment (all paths may be any Hadoop FS URI):
  SPARKFORMER_JOB_JAR     the job jar (driver/target/sparkformer-driver-<version>-job.jar)
  SPARKFORMER_CONFIG      the job config (YAML) the scheduled runs use
  SPARKFORMER_DATA_ROOT   new data lands in DATA_ROOT/<YYYY-MM-DD>/
  SPARKFORMER_RUNS_ROOT   one run directory per logical date
  SPARKFORMER_MODELS      the models directory holding the `current` pointer
  SPARKFORMER_SPARK_CONF  extra Spark settings, as a JSON object (optional)

Run as a script it prints the spark-submit lines for one date as JSON:
  python3 retrain_commands.py --ds 2026-11-23 --master yarn
"""
import argparse
import json
import os
from dataclasses import dataclass, field

MAIN_CLASS = "io.sparkformer.driver.Cli"

# ND4J keeps its tensors off the JVM heap: the container needs room beside the heap (docs/deploying.md,
# "Memory"); JavaCPP's limits keep ND4J inside it.
DEFAULT_SPARK_CONF = {
    "spark.executor.memory": "4g",
    "spark.executor.memoryOverhead": "3g",
    "spark.executor.extraJavaOptions":
        "-Dorg.bytedeco.javacpp.maxbytes=2G -Dorg.bytedeco.javacpp.maxphysicalbytes=7G",
}


@dataclass(frozen=True)
class Settings:
    job_jar: str
    config: str
    data_root: str
    runs_root: str
    models: str
    spark_conf: dict = field(default_factory=dict)

    @staticmethod
    def from_env(env=None):
        env = os.environ if env is None else env
        missing = [k for k in ("SPARKFORMER_JOB_JAR", "SPARKFORMER_CONFIG", "SPARKFORMER_DATA_ROOT",
                               "SPARKFORMER_RUNS_ROOT", "SPARKFORMER_MODELS") if not env.get(k)]
        if missing:
            raise KeyError("set " + ", ".join(missing) + " (see " + __file__ + ")")
        conf = dict(DEFAULT_SPARK_CONF)
        conf.update(json.loads(env.get("SPARKFORMER_SPARK_CONF") or "{}"))
        return Settings(env["SPARKFORMER_JOB_JAR"], env["SPARKFORMER_CONFIG"], env["SPARKFORMER_DATA_ROOT"],
                        env["SPARKFORMER_RUNS_ROOT"], env["SPARKFORMER_MODELS"], conf)


def run_dir(s, ds):
    return f"{s.runs_root}/{ds}"


def train_args(s, ds):
    return ["train", "--config", s.config, "--set", f"data.inputs=[{s.data_root}/{ds}]",
            "--output", run_dir(s, ds), "--warm-start", s.models, "--resume", "--no-progress"]


def promote_args(s, ds):
    return ["promote", "--run", run_dir(s, ds), "--models", s.models]


def operator_kwargs(s, task, args):
    """Keyword arguments of the SparkSubmitOperator for one task."""
    return {"application": s.job_jar, "java_class": MAIN_CLASS, "conf": dict(s.spark_conf),
            "name": f"sparkformer-{task}", "application_args": args}


def spark_submit_command(kwargs, master, binary="spark-submit"):
    """The line SparkSubmitOperator runs for these kwargs (its hook's order: master, conf, name,
    class, application, arguments)."""
    cmd = [binary, "--master", master]
    for key, value in kwargs["conf"].items():
        cmd += ["--conf", f"{key}={value}"]
    cmd += ["--name", kwargs["name"], "--class", kwargs["java_class"], kwargs["application"]]
    return cmd + list(kwargs["application_args"])


def commands(s, ds, master, binary="spark-submit"):
    return {"train": spark_submit_command(operator_kwargs(s, "train", train_args(s, ds)), master, binary),
            "promote": spark_submit_command(operator_kwargs(s, "promote", promote_args(s, ds)), master, binary)}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Print the retraining's spark-submit lines for one logical date.")
    parser.add_argument("--ds", required=True, help="logical date, YYYY-MM-DD")
    parser.add_argument("--master", default="yarn")
    parser.add_argument("--spark-submit", default="spark-submit", help="the spark-submit executable")
    a = parser.parse_args()
    print(json.dumps(commands(Settings.from_env(), a.ds, a.master, a.spark_submit), indent=1))
