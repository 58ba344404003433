"""Command palette: launch a preset straight from it (every app action is there as a system command)."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider


class PresetCommands(Provider):
    async def startup(self) -> None:
        worker = self.app.run_worker(_read_presets, thread=True, exit_on_error=False)
        await worker.wait()
        self.presets, self.problems = worker.result or ([], [])

    def _hits(self):
        for name in self.presets:
            yield f"Launch preset: {name}", partial(self.app.launch_preset, name), "start a run with this preset's settings"
            yield f"Open preset in form: {name}", partial(self.app.open_preset, name), "edit the preset's settings, then launch"

    async def discover(self) -> Hits:
        for title, callback, help_text in self._hits():
            yield DiscoveryHit(title, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, callback, help_text in self._hits():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), callback, help=help_text)
        for problem in self.problems:
            score = matcher.match(f"preset problem {problem}")
            if score > 0:
                yield Hit(score, matcher.highlight(f"preset problem: {problem}"), lambda: None, help="fix or delete the file")


def _read_presets() -> tuple[list[str], list[str]]:
    from launcher.presets import list_presets

    presets, problems = list_presets()
    return [p.name for p in presets], [str(p) for p in problems]
