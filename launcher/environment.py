"""What a program receives about its run: LAUNCHER_* variables, and the same under W&B Launch's names."""

from __future__ import annotations

import json

from launcher.spec import LaunchSpec


def run_environment(spec: LaunchSpec, config_file: str) -> dict[str, str]:
    config_json = json.dumps(spec.run_config)
    values = {
        "LAUNCHER_RUN_ID": spec.run_id,
        "LAUNCHER_RUN_NAME": spec.name,
        "LAUNCHER_PROJECT": spec.project,
        "LAUNCHER_ENTITY": spec.entity,
        "LAUNCHER_JOB": spec.job or "",
        "LAUNCHER_CONFIG": config_json,
        "LAUNCHER_CONFIG_FILE": config_file,
        "LAUNCHER_RESOURCE": spec.resource,
        # Scripts written for W&B Launch read these; WANDB_LAUNCH makes wandb.init() pick up the config.
        "WANDB_RUN_ID": spec.run_id,
        "WANDB_NAME": spec.name,
        "WANDB_PROJECT": spec.project,
        "WANDB_ENTITY": spec.entity,
        "WANDB_CONFIG": config_json,
        "WANDB_LAUNCH": "True",
        "PYTHONUNBUFFERED": "1",
    }
    if spec.job:
        values["WANDB_JOB_NAME"] = spec.job
    commit = spec.source.get("commit")
    if commit:
        values["LAUNCHER_GIT_COMMIT"] = commit
    return values
