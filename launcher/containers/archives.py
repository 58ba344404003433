"""Tar archives for put_archive (the config and inputs copied into a container at create, which also works
on an engine that cannot bind-mount this machine's files: a remote one over ssh:// or tcp://).

The archive ends right after tar's two end-of-archive blocks, without the padding to a 10 KiB record that
Python's tarfile adds: podman's put_archive stops reading at those blocks and then fails the request
while padding is still being sent ("passing bulk input to subprocess: write |1: broken pipe", HTTP 500,
now and then; containers/buildah#6573). Docker accepts both."""

from __future__ import annotations

import io
import tarfile
import time
from collections.abc import Mapping


def tar_archive(files: Mapping[str, bytes], mode: int = 0o644) -> bytes:
    """An uncompressed tar of `files` (archive path -> content); folders on the way are implied."""
    buffer = io.BytesIO()
    now = int(time.time())
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, now
            tar.addfile(info, io.BytesIO(data))
        tar.close()
        end = tar.offset  # after the end-of-archive blocks, before the record padding close() wrote
    return buffer.getvalue()[:end]
