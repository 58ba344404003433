"""The framing of a wandb transaction log (`run-<id>.wandb`): serialized records out of its bytes.

wandb writes its records in LevelDB's log format (leveldb's doc/log_format.md): after a 7-byte file header
(":W&B", magic 0xBEE1, version 0) the file is a series of 32 KiB blocks; each record is cut into chunks
that never cross a block (7-byte chunk header: CRC-32 of type and data, length, type FULL/FIRST/MIDDLE/LAST);
fewer than 7 bytes left in a block are zero padding. wandb checks chunks with zlib's CRC-32 (not crc32c).
The wandb package (0.31) no longer ships a Python reader of this framing (its Go core reads it), so the
framing is read here; the records themselves are parsed with the package's own protobuf classes.

A log is read while wandb writes it: a chunk or record cut at the end of the file is not an error, the
next scan starts again at its first byte. Only when the writer has ended (`final`) is a cut record a
problem. A damaged chunk is reported once and reading goes on at the next block, as LevelDB's reader does."""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

FILE_HEADER = b":W&B" + struct.pack("<HB", 0xBEE1, 0)
BLOCK_BYTES = 32768
CHUNK_HEADER_BYTES = 7
_FULL, _FIRST, _MIDDLE, _LAST = 1, 2, 3, 4
_CHUNK_HEADER = struct.Struct("<IHB")
#: CRC-32 of each chunk type byte alone, the start of each chunk's checksum.
_TYPE_CRC = {kind: zlib.crc32(bytes([kind])) for kind in (_FULL, _FIRST, _MIDDLE, _LAST)}


@dataclass(slots=True)
class Scan:
    """What a scan of some bytes of the log found."""

    #: (file offset, serialized record) of each complete, checked record, in file order.
    records: list[tuple[int, bytes]]
    #: File offset where the next scan starts: the first chunk of a record not yet complete, or the end.
    offset: int
    #: One line about damage found (the damaged bytes are skipped), or None.
    problem: str | None = None


def check_file_header(head: bytes, name: str, final: bool) -> str | None:
    """None when `head` (the file's first bytes) is a transaction log's header, or one still being written
    (not final); else the problem in one line."""
    if len(head) < len(FILE_HEADER):
        if FILE_HEADER.startswith(head) and not final:
            return None
        if FILE_HEADER.startswith(head):
            return f"{name}: too short to be a wandb transaction log ({len(head)} bytes)"
    if head[:len(FILE_HEADER)] != FILE_HEADER:
        return f"{name}: not a wandb transaction log (it starts with {head[:len(FILE_HEADER)]!r})"
    return None


def scan(data: bytes | memoryview, base: int, final: bool, name: str) -> Scan:
    """Read the complete records of `data`, which holds the file from offset `base` (a record start, at or
    after the file header) to its current end."""
    records: list[tuple[int, bytes]] = []
    problem: str | None = None
    end_of_data = base + len(data)
    position = base
    record_start = base  # where the record being assembled began (a chunk start)
    parts: list[bytes] | None = None  # chunks of a record begun by a FIRST chunk
    resyncing = False  # after damage: the rest of a record whose start was skipped is skipped too
    view = memoryview(data)
    while True:
        left_in_block = BLOCK_BYTES - position % BLOCK_BYTES
        if left_in_block < CHUNK_HEADER_BYTES:
            if position + left_in_block > end_of_data:
                if parts is None and not any(view[position - base:]):
                    record_start = end_of_data  # the padding written so far holds nothing to wait for
                break
            position += left_in_block  # block trailer: zero padding
            if parts is None:
                record_start = position
            continue
        if position + CHUNK_HEADER_BYTES > end_of_data:
            break
        checksum, length, kind = _CHUNK_HEADER.unpack_from(view, position - base)
        chunk_end = position + CHUNK_HEADER_BYTES + length
        damage: str | None = None
        if length > left_in_block - CHUNK_HEADER_BYTES or kind not in _TYPE_CRC:
            damage = "damaged chunk header"
        elif chunk_end > end_of_data:
            break  # still being written (or cut, when final: see below)
        else:
            payload = view[position - base + CHUNK_HEADER_BYTES:chunk_end - base]
            if zlib.crc32(payload, _TYPE_CRC[kind]) != checksum:
                damage = "bad checksum"
            elif kind == _FULL:
                if parts is not None:
                    damage = "record cut short by a new one"
                else:
                    records.append((position, payload.tobytes()))
            elif kind == _FIRST:
                if parts is not None:
                    damage = "record cut short by a new one"
                else:
                    parts = [payload.tobytes()]
            elif parts is None and resyncing:
                pass  # the end of a record whose start was in the skipped bytes
            elif parts is None:
                damage = "chunk without its record's start"
            else:
                parts.append(payload.tobytes())
                if kind == _LAST:
                    records.append((record_start, b"".join(parts)))
                    parts = None
        if damage is not None:
            # Skip the rest of this block, like LevelDB's reader; the record in progress is lost.
            problem = problem or (f"{name}: {damage} at byte {position}; the rest of its 32 KiB block is "
                                  f"skipped, metrics read so far are kept")
            parts = None
            resyncing = True
            position += left_in_block
            record_start = position
            continue
        if kind in (_FULL, _FIRST):
            resyncing = False
        position = chunk_end
        if parts is None:
            record_start = position
    if final and record_start < end_of_data and problem is None:
        problem = f"{name}: truncated record at byte {record_start}; metrics read so far are kept"
        record_start = end_of_data
    return Scan(records, record_start, problem)
