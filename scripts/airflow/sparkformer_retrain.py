"""Airflow DAG: retrain a Sparkformer model every day on the data that landed that day, and promote
it only if it beats the current model on a fixed validation set.

Copy this file and retrain_commands.py into the DAGs folder; set the SPARKFORMER_* variables listed
in retrain_commands.py in the scheduler's and workers' environment, and point the `spark_default`
connection at the cluster (YARN, Kubernetes or standalone master).

Reruns of a logical date are idempotent: `train --resume` continues that date's run directory from
its last checkpoint (or leaves a finished run as it is) and `promote` decides the same way again.
"""
from datetime import datetime, timedelta

from airflow import DAG
from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator

import retrain_commands as rc

settings = rc.Settings.from_env()

with DAG(
    dag_id="sparkformer_retrain",
    description="Daily warm-start retraining with promotion on a fixed validation set",
    schedule="@daily",
    start_date=datetime(2026, 11, 1),
    catchup=False,
    max_active_runs=1,  # each day warm-starts from the model the day before promoted
    default_args={"retries": 2, "retry_delay": timedelta(minutes=10)},
    tags=["sparkformer"],
) as dag:
    train = SparkSubmitOperator(
        task_id="train",
        conn_id="spark_default",
        **rc.operator_kwargs(settings, "train", rc.train_args(settings, "{{ ds }}")),
    )
    promote = SparkSubmitOperator(
        task_id="promote",
        conn_id="spark_default",
        **rc.operator_kwargs(settings, "promote", rc.promote_args(settings, "{{ ds }}")),
    )
    train >> promote
