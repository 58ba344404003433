"""A real package index on 127.0.0.1 (PEP 503 "simple" pages and wheels) whose downloads can be held:
set-up that installs from it takes exactly as long as a test says, so "during set-up" is a state a test
can reach and leave on a condition, never on a clock."""

from __future__ import annotations

import base64
import hashlib
import http.server
import io
import threading
import zipfile
from dataclasses import dataclass, field


def make_wheel(name: str, version: str = "1.0", code: str = "VALUE = 1\n") -> bytes:
    """A minimal pure-Python wheel holding one module named `name`."""
    dist = f"{name}-{version}.dist-info"
    files = {
        f"{name}.py": code.encode(),
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        f"{dist}/WHEEL": b"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    record.append(f"{dist}/RECORD,,")
    files[f"{dist}/RECORD"] = ("\n".join(record) + "\n").encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path, data in files.items():
            archive.writestr(path, data)
    return buffer.getvalue()


@dataclass
class HeldIndex:
    """An index serving one package whose wheel download waits until `release()` (or forever)."""

    name: str
    wheel: bytes
    released: threading.Event = field(default_factory=threading.Event)
    #: Set once an installer has asked for the wheel (the set-up is then under way).
    requested: threading.Event = field(default_factory=threading.Event)
    server: http.server.ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/simple/"

    @property
    def file_name(self) -> str:
        return f"{self.name}-1.0-py3-none-any.whl"

    def release(self) -> None:
        self.released.set()

    def start(self) -> HeldIndex:
        index = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_HEAD(self) -> None:  # noqa: N802 - installers ask before they download (uv does)
                if self.path == f"/files/{index.file_name}":
                    self.send_response(200)
                    self.send_header("Content-Type", "application/octet-stream")
                    self.send_header("Content-Length", str(len(index.wheel)))
                    self.end_headers()
                else:
                    self.send_error(404)

            def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
                if self.path.rstrip("/") == f"/simple/{index.name}":
                    digest = hashlib.sha256(index.wheel).hexdigest()
                    body = (f'<html><body><a href="/files/{index.file_name}#sha256={digest}">'
                            f"{index.file_name}</a></body></html>").encode()
                    self._send(body, "text/html")
                elif self.path == f"/files/{index.file_name}":
                    index.requested.set()
                    if not index.released.wait(600):
                        self.send_error(503)
                        return
                    self._send(index.wheel, "application/octet-stream")
                else:
                    self.send_error(404)

            def _send(self, body: bytes, kind: str) -> None:
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the installer was stopped

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, name="held-index", daemon=True).start()
        return self

    def stop(self) -> None:
        self.released.set()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
