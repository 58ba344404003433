"""Waiting for the test's go-ahead (a file), so that it can look at the metrics while the script runs."""
import json
import os
import time


def config() -> dict:
    return json.loads(os.environ["LAUNCHER_CONFIG"])


def wait_for_go() -> None:
    go = config()["go"]
    deadline = time.time() + 300
    while not os.path.exists(go) and time.time() < deadline:
        time.sleep(0.05)
