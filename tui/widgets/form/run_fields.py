"""The run's own fields: its name and id, the project and entity it is filed under, an image to run and a
registry repository for built images (one line of text each, two side by side)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Input

from tui.form_model import TEXT_FIELDS
from tui.widgets.form.fields import labelled


class RunFields(Vertical):
    DEFAULT_CSS = "RunFields { height: auto; }"

    def __init__(self, *, default_project: str, default_entity: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.placeholders = {
            "name": "default: the job's name", "run_id": "default: a new random id",
            "project": default_project, "entity": default_entity,
            "docker_image": "run this image (container resources)",
            "repository": "registry repository for built images",
        }

    def compose(self) -> ComposeResult:
        # In TEXT_FIELDS' pairs, each pair side by side.
        for first, second in (("name", "run_id"), ("project", "entity"), ("docker_image", "repository")):
            with Horizontal(classes="pair"):
                for key in (first, second):
                    with Vertical():
                        yield from labelled(key, Input(compact=True, placeholder=self.placeholders[key], id=key))

    def values(self) -> dict[str, str]:
        return {key: self.query_one(f"#{key}", Input).value for key in TEXT_FIELDS}

    def show(self, values: dict[str, str]) -> None:
        for key in TEXT_FIELDS:
            self.query_one(f"#{key}", Input).value = values.get(key, "")
