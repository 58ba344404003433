"""The whole-log search and line counts (launcher/logsearch.py) agree with the line reader that
`launcher logs` uses: the same line numbers, the same matches as the shown text, exact counts across
fragments, colour codes, tabs, UTF-8, metrics lines and skipped ranges."""

from __future__ import annotations

from pathlib import Path

import pytest

from launcher.logfile import LAUNCHER, MAX_RECORD, STDERR, STDOUT, LogWriter, iter_lines
from launcher.logsearch import (
    LineFilter,
    LogQuery,
    LogScan,
    Match,
    NumberedReader,
    StreamFilter,
    count_lines,
    read_lines,
    read_lines_at,
    whole_records,
)
from launcher.logtext import visible_text


def awkward_log(path: Path, repeat: int = 40) -> None:
    """Every kind of line the file format holds, many times over, in small scan steps' worth of bytes."""
    log = LogWriter(path)
    at = 1_700_000_000.0
    for i in range(repeat):
        at += 1
        log.write(STDOUT, f"plain line {i} with a Needle\nplain line {i} without\n".encode(), at)
        log.write(STDERR, f"error {i}: \x1b[31mnee\x1b[0mdle split by colour\n".encode(), at)
        log.write(STDOUT, b"@metrics {\"loss\": 0.5, \"needle\": 1}\n", at)
        log.write(STDOUT, f"tab\tseparated {i}\n".encode(), at)
        log.write(STDOUT, f"caf\u00e9 NEEDLE \u00fcber {i}\n".encode(), at)
        log.write(STDERR, b"progress 10%\rprogress 100% needle", at)  # a fragment ...
        log.write(STDOUT, b"interleaved stdout line\n", at)
        log.write(STDERR, b" done\n", at)  # ... ended here
        log.write(STDOUT, b"2026 Z O needle-like prefix text\n", at)
        log.note(f"launcher note {i} about the needle")
        log.write(STDOUT, b"\xff\xfe bad utf-8 needle\n", at)
    log.write(STDOUT, b"x" * (MAX_RECORD + 10) + b" needle at the end of a long line\n", at)
    log.write(STDERR, b"never ended needle", at)
    log.close()


def scanned(path: Path, query: LogQuery, complete: bool = True, step: int = 4096) -> LogScan:
    scan = LogScan(path, query)
    while scan.step(step):
        pass
    if complete:
        scan.finish()
    return scan


@pytest.mark.parametrize("query", [
    LogQuery("needle"),
    LogQuery("NEEDLE", LineFilter(StreamFilter.STDERR)),
    LogQuery("needle", LineFilter(StreamFilter.STDOUT, hide_metrics=True)),
    LogQuery("\u00fcber"),
    LogQuery("tab  "),  # a tab shows as spaces
    LogQuery("31m"),  # colour codes are not text
    LogQuery("Z O"),  # the record prefix is not text
])
def test_a_whole_file_search_finds_exactly_the_lines_whose_shown_text_matches(tmp_path: Path, query) -> None:
    path = tmp_path / "output.log"
    awkward_log(path)
    lines = list(iter_lines(path))
    expected = [number for number, line in enumerate(lines) if query.matches(line.stream, line.data)]
    scan = scanned(path, query)
    assert list(scan.match_lines) == expected
    assert scan.lines == len(lines)
    # Each match's offset leads back to its line.
    back = read_lines_at(path, [Match(n, o) for n, o in zip(scan.match_lines, scan.match_offsets, strict=True)])
    assert [(n, line.data) for n, line in back] == [(n, lines[n].data) for n in expected]
    if query.term == "31m":
        assert expected == []
    if query.term == "Z O":  # only the lines that say it, not every record's prefix
        assert len(expected) == 40
    if query == LogQuery("needle"):  # the colour-split, the fragment, the unended and the long line all count
        texts = [visible_text(lines[n].data) for n in expected]
        assert "error 0: needle split by colour" in texts and "progress 100% needle done" in texts
        assert texts[-1] == "never ended needle" and texts[-2].endswith("needle at the end of a long line")


def test_a_scan_of_a_growing_file_covers_what_has_arrived_and_then_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "output.log"
    log = LogWriter(path)
    log.write(STDOUT, b"".join(f"line {i} {'hit' if i % 7 == 0 else ''}\n".encode() for i in range(1000)))
    log.write(STDOUT, b"half a line with a hit")  # in progress: not counted yet
    scan = scanned(path, LogQuery("hit"), complete=False)
    assert scan.lines == 1000 and scan.count == len(range(0, 1000, 7))
    log.write(STDOUT, b" ended\nlast hit\n")
    log.close()
    assert scan.step() and not scan.step()
    assert scan.lines == 1002 and list(scan.match_lines)[-2:] == [1000, 1001]


def test_counting_and_skipping_are_exact_where_the_reader_would_parse(tmp_path: Path) -> None:
    path = tmp_path / "output.log"
    awkward_log(path, repeat=300)
    lines = list(iter_lines(path))
    end = whole_records(path, 0)
    assert count_lines(path, 0, end)[0] == len(lines) - 1  # all but the line never ended
    data = path.read_bytes()
    boundaries = [i + 1 for i, byte in enumerate(data[:end]) if byte == 0x0A]
    for cut in boundaries[::97]:
        # Lines ended before the cut, as the reader counts them in a copy of the file up to there.
        (tmp_path / "head.log").write_bytes(data[:cut])
        ended_before = sum(line.newline for line in iter_lines(tmp_path / "head.log"))
        reader = NumberedReader(path)
        head = reader.read(min(cut, 5000))
        skipped = reader.skip_to(max(cut, reader.offset - len(reader._partial)))
        assert reader.line == max(ended_before, len(head)), cut
        tail = list(reader.read_available()) + reader.flush_pending()
        # Every line is counted once, even one in progress across the jump.
        assert reader.line == len(lines) == len(head) + skipped + len(tail), cut
        assert [line.data for line in tail[-5:]] == [line.data for line in lines[-5:]]


def test_any_range_of_lines_reads_back_by_number(tmp_path: Path) -> None:
    path = tmp_path / "output.log"
    awkward_log(path, repeat=200)
    lines = list(iter_lines(path))
    scan = scanned(path, LogQuery("needle"), step=8192)
    assert len(scan.checkpoints) > 5
    for first in (0, 1, 777, len(lines) - 5):
        got = read_lines(path, scan.checkpoints, first, 50, complete=True)
        assert [n for n, _ in got] == list(range(first, min(first + 50, len(lines))))
        assert [line.data for _, line in got] == [line.data for line in lines[first:first + 50]]


def test_next_and_previous_match_wrap_around_the_ends(tmp_path: Path) -> None:
    path = tmp_path / "output.log"
    log = LogWriter(path)
    log.write(STDOUT, b"".join(f"{'hit' if i in (3, 50, 90) else 'miss'} {i}\n".encode() for i in range(100)))
    log.write(LAUNCHER, b"a note\n")
    log.close()
    scan = scanned(path, LogQuery("hit"))
    assert scan.next_match(0).line == 3 and scan.next_match(3).line == 50 and scan.next_match(90).line == 3
    assert scan.next_match(50, forward=False).line == 3 and scan.next_match(3, forward=False).line == 90
    assert scan.next_match(90, wrap=False) is None and scan.rank(50) == 1
    assert [m.line for m in scan.matches_around(50, before=1, after=1)] == [3, 50]


def test_a_query_needs_a_term() -> None:
    with pytest.raises(ValueError):
        LogQuery("")
    assert StreamFilter.ALL.following() is StreamFilter.STDOUT and StreamFilter.STDERR.following() is StreamFilter.ALL
