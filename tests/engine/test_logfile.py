"""The run log format: byte-exact, fragments for unterminated and very long lines, incremental reading."""

from __future__ import annotations

import os
import random

from launcher.logfile import (
    LAUNCHER,
    MAX_RECORD,
    STDERR,
    STDOUT,
    LogReader,
    LogWriter,
    iter_lines,
    read_stream_bytes,
)


def test_streams_rebuild_byte_for_byte(tmp_path):
    rng = random.Random(7)
    path = tmp_path / "output.log"
    writer = LogWriter(path)
    expected = {STDOUT: bytearray(), STDERR: bytearray()}
    for _ in range(300):
        stream = rng.choice((STDOUT, STDERR))
        # Random bytes include newlines, invalid UTF-8 and lines cut anywhere across chunks.
        chunk = bytes(rng.choice(b"ab\n\xff\xfe\x00 \r\x80") for _ in range(rng.randint(1, 200)))
        writer.write(stream, chunk)
        expected[stream] += chunk
    writer.close()
    assert read_stream_bytes(path, (STDOUT,)) == bytes(expected[STDOUT])
    assert read_stream_bytes(path, (STDERR,)) == bytes(expected[STDERR])


def test_line_of_several_megabytes_without_newline(tmp_path):
    path = tmp_path / "output.log"
    writer = LogWriter(path)
    big = os.urandom(3 * MAX_RECORD + 123).replace(b"\n", b"x")
    writer.write(STDOUT, b"first\n" + big[: MAX_RECORD // 2])
    writer.write(STDOUT, big[MAX_RECORD // 2:])
    writer.close()
    # No record in the file is larger than the limit, so readers never hold more than that per record.
    assert max(len(r) for r in path.read_bytes().split(b"\n")) <= MAX_RECORD + 40
    lines = list(iter_lines(path))
    assert [line.data for line in lines] == [b"first", big]
    assert lines[0].newline and not lines[1].newline


def test_reader_follows_a_growing_file(tmp_path):
    path = tmp_path / "output.log"
    writer = LogWriter(path)
    reader = LogReader(path)
    assert reader.read() == []
    writer.write(STDOUT, b"one\ntw")
    assert [line.text for line in reader.read()] == ["one"]
    writer.write(STDERR, b"err\n")
    writer.write(STDOUT, b"o\n")
    lines = reader.read()
    assert [(line.stream, line.text) for line in lines] == [(STDERR, "err"), (STDOUT, "two")]
    writer.note("build step 1/3")
    assert [(line.stream, line.text) for line in reader.read()] == [(LAUNCHER, "build step 1/3")]
    writer.close()


def test_every_line_has_a_timestamp(tmp_path):
    path = tmp_path / "output.log"
    writer = LogWriter(path)
    writer.write(STDOUT, b"a\nb\n", at=1_700_000_000.25)
    writer.close()
    assert [line.timestamp for line in iter_lines(path)] == ["2023-11-14T22:13:20.250000Z"] * 2
