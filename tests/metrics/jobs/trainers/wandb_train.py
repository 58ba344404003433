import wandb
from gate import wait_for_go

run = wandb.init(config={"lr": 0.1, "batch": 64})
for step in range(3):
    wandb.log({"loss": 1.0 / (step + 1), "acc": step / 10})
wait_for_go()
for step in range(3, 6):
    wandb.log({"loss": 1.0 / (step + 1), "acc": step / 10})
run.finish()
