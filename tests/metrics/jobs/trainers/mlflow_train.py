import mlflow
from gate import wait_for_go

with mlflow.start_run():
    mlflow.log_param("lr", 0.1)
    for step in range(3):
        mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
    wait_for_go()
    for step in range(3, 6):
        mlflow.log_metrics({"loss": 1.0 / (step + 1), "acc": step / 10}, step=step)
