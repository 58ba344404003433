"""A tiny job: prints its config, a few lines of progress and a metric line, then exits 0."""

import json
import os
import time

config = json.loads(os.environ.get("LAUNCHER_CONFIG", "{}"))
print(f"run {os.environ.get('LAUNCHER_RUN_ID')} starting with config {json.dumps(config, sort_keys=True)}")
steps = int(config.get("steps", 5))
learning_rate = float(config.get("lr", 0.1))
loss = 1.0
for step in range(1, steps + 1):
    loss *= 1 - learning_rate
    print(f"step {step}/{steps} loss={loss:.4f}", flush=True)
    print(f'@metrics {{"step": {step}, "loss": {loss:.4f}}}', flush=True)
    time.sleep(float(config.get("delay", 0.2)))
print("done")
