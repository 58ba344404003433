"""Metrics from the tracking libraries people already use, read into the launcher's one metrics model.

- `model`: the model itself (MetricPoint, ReadResult, MetricSource).
- `wandb_reader`: a wandb transaction log (`run-<id>.wandb`) read as it grows.
- `mlflow_reader`: the `log_metric` values of one MLflow run, read as they are logged.
- `tensorboard_reader`: scalars of `events.out.tfevents.*` files under a folder, read as they grow.
- `environment`: the variables a run gets so those libraries write where the launcher reads.
- `mlflow_run`: the workspace's MLflow store and the MLflow run tied to a launcher run.

Nothing here imports a tracking library at import time: each reader imports its library when it is used,
and says which extra to install when it is missing (`extras.require`)."""
