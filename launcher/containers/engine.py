"""A small client for the Docker Engine API, standard library only.

Why not the docker SDK: every container run is owned by a supervisor process that starts afresh, and the
SDK (with requests) takes ~100 ms to import, a third of a whole `docker run --rm` here; even http.client
(with ssl and email) costs ~13 ms. The calls a run needs (create, attach, start, wait, logs, stop, remove,
build, tag, push, pull) are a few HTTP/1.1 requests on the engine's socket: this module makes them with a
minimal HTTP client and turns failures into one-line LaunchErrors."""

from __future__ import annotations

import json
import os
import socket
import struct
from collections.abc import Iterator
from typing import Any

from launcher.errors import LaunchError, ResourceError

#: Supported by Docker 20.10 and by every later engine (they accept API versions back to 1.24).
API_VERSION = "1.41"
DEFAULT_HOST = "unix:///var/run/docker.sock"
START_HINT = "bash scripts/docker-up (or `dockerd`, or `systemctl start docker`)"
STDOUT_FRAME, STDERR_FRAME = 1, 2
_FRAME_HEADER = struct.Struct(">BxxxL")
_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_BLOCK = 1 << 16


class EngineUnavailable(ResourceError):
    """No Docker engine answers at the configured address."""


class EngineError(LaunchError):
    """The engine answered with an error."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class NotFound(EngineError):
    pass


def docker_host() -> str:
    return os.environ.get("DOCKER_HOST") or DEFAULT_HOST


def not_answering(host: str) -> str:
    return f"no Docker engine answers at {host}; start one with: {START_HINT}"


class Response:
    """An HTTP/1.1 response body read from its socket: Content-Length, chunked, or up to the close.

    `take` decodes what is already buffered without waiting, `fill` does one socket read: a caller with
    other things to watch (a cancel request) selects on `sock` in between. `read1` and `read` block."""

    def __init__(self, sock: socket.socket, status: int, headers: dict[str, str], buffered: bytes) -> None:
        self.sock = sock
        self.status = status
        self._buffer = bytearray(buffered)
        self._position = 0  # consumed bytes at the buffer's start (compacted now and then, not per read)
        self._chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        length = headers.get("content-length")
        self._remaining: int | None = int(length) if length is not None and not self._chunked else None
        self._chunk_left = 0
        self._done = self._remaining == 0 or status in (204, 304)
        self._eof = False

    def fill(self) -> bool:
        """One read from the socket into the buffer; False when the engine closed the connection."""
        data = self.sock.recv(1 << 20)
        if not data:
            self._eof = True
            return False
        if self._position > (1 << 20):
            del self._buffer[:self._position]
            self._position = 0
        self._buffer += data
        return True

    def take(self, limit: int = 1 << 20) -> bytes | None:
        """Body bytes already buffered (b"" if the socket must be read first), or None at the end."""
        if self._done:
            return None
        if self._chunked:
            while self._chunk_left == 0:
                end = self._buffer.find(b"\r\n", self._position)
                if end < 0:
                    return b""
                line = bytes(self._buffer[self._position:end])
                self._position = end + 2
                if not line.strip():
                    continue  # the CRLF that ends the previous chunk
                self._chunk_left = int(line.split(b";", 1)[0], 16)
                if self._chunk_left == 0:
                    self._done = True
                    return None
            limit = min(limit, self._chunk_left)
        elif self._remaining is not None:
            limit = min(limit, self._remaining)
        data = bytes(self._buffer[self._position:self._position + limit])
        self._position += len(data)
        if self._chunked:
            self._chunk_left -= len(data)
        elif self._remaining is not None:
            self._remaining -= len(data)
            self._done = self._remaining == 0
        return data

    def read1(self, limit: int = 1 << 20) -> bytes:
        """Some body bytes (waiting for at least one), or b"" at the end of the body."""
        while True:
            data = self.take(limit)
            if data is None:
                return b""
            if data:
                return data
            if self._eof or not self.fill():
                self._done = True
                return b""

    def read(self) -> bytes:
        parts = []
        while chunk := self.read1():
            parts.append(chunk)
        return b"".join(parts)

    def close(self) -> None:
        self.sock.close()


class Engine:
    """One engine address. Each call opens its own connection (a unix connect costs microseconds), so an
    Engine may be shared by threads."""

    def __init__(self, host: str | None = None, timeout: float = 120.0) -> None:
        self.host = host or docker_host()
        self.timeout = timeout
        scheme, _, rest = self.host.partition("://")
        if scheme == "unix" and rest:
            self._unix_path: str | None = rest
            self._address: tuple[str, int] | None = None
        elif scheme in ("tcp", "http") and ":" in rest:
            name, _, port = rest.rstrip("/").rpartition(":")
            self._unix_path = None
            self._address = (name, int(port))
        else:
            raise ResourceError(f"DOCKER_HOST {self.host!r} is not supported; expected unix:///path or "
                                "tcp://host:port")

    # -- plumbing -------------------------------------------------------------------------------------
    def _connect(self, timeout: float | None) -> socket.socket:
        try:
            if self._unix_path is not None:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.settimeout(timeout)
                sock.connect(self._unix_path)
                return sock
            return socket.create_connection(self._address, timeout=timeout)
        except TimeoutError as error:
            raise EngineUnavailable(f"the Docker engine at {self.host} did not answer in time") from error
        except OSError as error:
            raise EngineUnavailable(not_answering(self.host)) from error

    def _path(self, path: str, query: dict[str, Any] | None) -> str:
        url = f"/v{API_VERSION}{path}"
        if query:
            pairs = [(key, item) for key, value in query.items() if value is not None
                     for item in (value if isinstance(value, list) else [value])]  # a list repeats its key
            url += "?" + "&".join(f"{_quote(str(k), '')}={_quote(str(v), '')}" for k, v in pairs)
        return url

    def open(self, method: str, path: str, *, query: dict[str, Any] | None = None, body: Any = None,
             headers: dict[str, str] | None = None, timeout: float | None = -1.0,
             upgrade: bool = False) -> Response:
        """Send a request and return the response once its head is read (HTTP errors raised here)."""
        sock = self._connect(self.timeout if timeout == -1.0 else timeout)
        lines = [f"{method} {self._path(path, query)} HTTP/1.1", "Host: docker"]
        for key, value in (headers or {}).items():
            lines.append(f"{key}: {value}")
        if isinstance(body, dict | list):
            body = json.dumps(body).encode()
            lines.append("Content-Type: application/json")
        streamed = hasattr(body, "read")
        if streamed:
            lines.append("Transfer-Encoding: chunked")
        else:
            lines.append(f"Content-Length: {len(body) if body else 0}")
        # Without keep-alive, a body of unknown length simply ends when the engine closes the connection.
        lines += ["Connection: Upgrade", "Upgrade: tcp"] if upgrade else ["Connection: close"]
        head = ("\r\n".join(lines) + "\r\n\r\n").encode()
        try:
            if streamed:
                sock.sendall(head)
                while block := body.read(_BLOCK):
                    sock.sendall(b"%x\r\n%s\r\n" % (len(block), block))
                sock.sendall(b"0\r\n\r\n")
            else:
                sock.sendall(head + (body or b""))
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = sock.recv(_BLOCK)
                if not chunk:
                    raise ConnectionResetError("the engine closed the connection")
                data += chunk
        except TimeoutError as error:
            sock.close()
            raise EngineUnavailable(f"the Docker engine at {self.host} did not answer in time") from error
        except OSError as error:
            sock.close()
            raise EngineUnavailable(f"the Docker engine at {self.host} went away: {error}") from error
        response_head, rest = data.split(b"\r\n\r\n", 1)
        status_line, *header_lines = response_head.decode("latin-1").split("\r\n")
        status = int(status_line.split(" ", 2)[1])
        response_headers = {}
        for line in header_lines:
            key, _, value = line.partition(":")
            response_headers[key.strip().lower()] = value.strip()
        response = Response(sock, status, response_headers, rest)
        if status >= 400:
            try:
                message = _error_message(response.read())
            except OSError:
                message = ""
            finally:
                response.close()
            raise (NotFound if status == 404 else EngineError)(message or f"HTTP {status}", status)
        return response

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """A request whose answer is JSON (or empty)."""
        response = self.open(method, path, **kwargs)
        try:
            data = response.read()
        except OSError as error:
            raise EngineUnavailable(f"the Docker engine at {self.host} went away: {error}") from error
        finally:
            response.close()
        return json.loads(data) if data.strip() else None

    def stream_json(self, method: str, path: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
        """The JSON messages of a progress stream (build, push, pull), as they arrive."""
        response = self.open(method, path, **kwargs)
        decoder = json.JSONDecoder()
        buffer = ""
        try:
            while True:
                try:
                    chunk = response.read1(_BLOCK)
                except OSError as error:
                    raise EngineUnavailable(f"the Docker engine at {self.host} went away: {error}") from error
                if not chunk:
                    break
                buffer += chunk.decode("utf-8", "replace")
                while True:
                    buffer = buffer.lstrip()
                    if not buffer:
                        break
                    try:
                        message, end = decoder.raw_decode(buffer)
                    except json.JSONDecodeError:
                        break  # an incomplete message: wait for the rest
                    buffer = buffer[end:]
                    yield message
        finally:
            response.close()

    # -- engine ---------------------------------------------------------------------------------------
    def ping(self, timeout: float = 1.0) -> None:
        """Raise EngineUnavailable unless the engine answers within the timeout."""
        response = self.open("GET", "/_ping", timeout=timeout)
        response.read()
        response.close()

    def info(self) -> dict[str, Any]:
        return self.call("GET", "/info", timeout=10)

    # -- images ---------------------------------------------------------------------------------------
    def image(self, ref: str) -> dict[str, Any] | None:
        try:
            return self.call("GET", f"/images/{_quote(ref)}/json", timeout=30)
        except NotFound:
            return None

    def tag(self, ref: str, repo: str, tag: str) -> None:
        self.call("POST", f"/images/{_quote(ref)}/tag", query={"repo": repo, "tag": tag}, timeout=30)

    def remove_image(self, ref: str) -> None:
        try:
            self.call("DELETE", f"/images/{_quote(ref)}", query={"noprune": 1}, timeout=60)
        except NotFound:
            pass

    def images(self, reference: str | None = None, *, with_intermediate: bool = False) -> list[dict[str, Any]]:
        """Images (Id, ParentId, RepoTags, Created, Size...), only those whose reference matches the
        pattern when given (`launcher/*`); with_intermediate adds the untagged parents that builds leave."""
        query: dict[str, Any] = {"all": int(with_intermediate)}
        if reference is not None:
            query["filters"] = json.dumps({"reference": [reference]})
        return self.call("GET", "/images/json", query=query, timeout=60) or []

    def delete_image(self, ref: str) -> list[dict[str, Any]]:
        """Remove a tag; when it was the image's last one, the image goes too, with the untagged parents
        nothing else uses. Returns the engine's record ({"Untagged": ref} and {"Deleted": id} items).
        Not forced: an image a container uses raises EngineError (status 409)."""
        return self.call("DELETE", f"/images/{_quote(ref)}", timeout=120) or []

    def all_containers(self) -> list[dict[str, Any]]:
        """Every container on the engine, running or not (each with its ImageID)."""
        return self.call("GET", "/containers/json", query={"all": 1}, timeout=30) or []

    def pull(self, ref: str) -> Iterator[dict[str, Any]]:
        repo, tag = split_tag(ref)
        return self.stream_json("POST", "/images/create", query={"fromImage": repo, "tag": tag},
                                headers={"X-Registry-Auth": registry_auth(repo)}, timeout=None)

    def push(self, ref: str) -> Iterator[dict[str, Any]]:
        repo, tag = split_tag(ref)
        return self.stream_json("POST", f"/images/{_quote(repo)}/push", query={"tag": tag},
                                headers={"X-Registry-Auth": registry_auth(repo)}, timeout=None)

    def build(self, context, *, tag: str, dockerfile: str) -> Iterator[dict[str, Any]]:
        """Build from a tar stream (a binary file object); yields the build's progress messages."""
        query = {"t": tag, "dockerfile": dockerfile, "rm": 1, "forcerm": 1}
        return self.stream_json("POST", "/build", query=query, body=context,
                                headers={"Content-Type": "application/x-tar"}, timeout=None)

    # -- containers -----------------------------------------------------------------------------------
    def create_container(self, name: str, config: dict[str, Any]) -> str:
        return self.call("POST", "/containers/create", query={"name": name}, body=config, timeout=60)["Id"]

    def start_container(self, container: str) -> None:
        self.call("POST", f"/containers/{container}/start", timeout=60)

    def inspect_container(self, container: str) -> dict[str, Any] | None:
        try:
            return self.call("GET", f"/containers/{container}/json", timeout=30)
        except NotFound:
            return None

    def wait_container(self, container: str, timeout: float | None = None) -> int:
        result = self.call("POST", f"/containers/{container}/wait", timeout=timeout)
        return int(result["StatusCode"])

    def stop_container(self, container: str, grace_seconds: int) -> None:
        """SIGTERM (or the image's stop signal), then SIGKILL after the grace period."""
        try:
            self.call("POST", f"/containers/{container}/stop", query={"t": grace_seconds},
                      timeout=grace_seconds + 30)
        except NotFound:
            pass

    def remove_container(self, container: str) -> None:
        try:
            self.call("DELETE", f"/containers/{container}", query={"force": 1, "v": 1}, timeout=60)
        except NotFound:
            pass
        except EngineError as error:
            if error.status != 409 or "already in progress" not in str(error):
                raise

    def containers(self, labels: dict[str, str]) -> list[dict[str, Any]]:
        """Containers (running or not) carrying all these labels."""
        filters = {"label": [f"{key}={value}" for key, value in labels.items()]}
        return self.call("GET", "/containers/json", query={"all": 1, "filters": json.dumps(filters)}, timeout=30)

    def attach(self, container: str) -> tuple[socket.socket, bytes]:
        """Attach to a created container's stdout and stderr before it starts: the fast path for output.

        Returns the hijacked socket, which carries multiplexed frames (see FrameSplitter), and any bytes of
        the stream already read with the response head."""
        response = self.open("POST", f"/containers/{container}/attach",
                             query={"stream": 1, "stdout": 1, "stderr": 1}, upgrade=True, timeout=30)
        response.sock.settimeout(None)
        return response.sock, response.take() or b""

    def logs(self, container: str, *, follow: bool) -> Response:
        """The container's output from its log driver, as multiplexed frames with timestamps."""
        return self.open("GET", f"/containers/{container}/logs",
                         query={"stdout": 1, "stderr": 1, "follow": int(follow), "timestamps": 1}, timeout=None)


class FrameSplitter:
    """Splits the engine's multiplexed stream (8-byte header: stream number, size) into payloads.

    By default consecutive frames of one stream are joined, so a program printing a million short lines
    costs one log write per read, not one per line; join=False keeps one payload per frame."""

    def __init__(self, join: bool = True) -> None:
        self._pending = b""
        self._join = join

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        if self._pending:
            data = self._pending + data
        out: list[tuple[int, bytes]] = []
        parts: list[bytes] = []
        current = -1
        position, size_all = 0, len(data)
        unpack = _FRAME_HEADER.unpack_from
        while position + 8 <= size_all:
            stream, size = unpack(data, position)
            end = position + 8 + size
            if end > size_all:
                break
            if stream != current or not self._join:
                if parts:
                    out.append((current, b"".join(parts)))
                    parts = []
                current = stream
            parts.append(data[position + 8:end])
            position = end
        if parts:
            out.append((current, b"".join(parts)))
        self._pending = data[position:]
        return out


def split_tag(ref: str) -> tuple[str, str]:
    """('registry:5000/name', 'tag') from 'registry:5000/name:tag' (the tag defaults to latest)."""
    if "@" in ref:
        repo, digest = ref.split("@", 1)
        return repo, digest
    last = ref.rsplit("/", 1)[-1]
    if ":" in last:
        repo, tag = ref.rsplit(":", 1)
        return repo, tag
    return ref, "latest"


def registry_auth(repo: str) -> str:
    """The X-Registry-Auth header for the registry of `repo`, from ~/.docker/config.json when it has
    credentials for it; otherwise empty credentials (what the engine expects for open registries)."""
    import base64
    from urllib.parse import urlsplit

    first = repo.split("/", 1)[0]
    registry = first if "/" in repo and ("." in first or ":" in first or first == "localhost") else "docker.io"
    auth: dict[str, str] = {}
    config_dir = os.environ.get("DOCKER_CONFIG") or os.path.expanduser("~/.docker")
    try:
        with open(os.path.join(config_dir, "config.json")) as f:
            entries = json.load(f).get("auths", {})
    except (OSError, ValueError, AttributeError):
        entries = {}
    names = {registry, "index.docker.io", "registry-1.docker.io"} if registry == "docker.io" else {registry}
    for key, entry in entries.items():
        host = urlsplit(key).netloc if "://" in key else key.split("/", 1)[0]
        if host in names and entry.get("auth"):
            user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
            auth = {"username": user, "password": password, "serveraddress": key}
            break
    return base64.urlsafe_b64encode(json.dumps(auth).encode()).decode()


def _quote(text: str, safe: str = "/:@") -> str:
    keep = _UNRESERVED | frozenset(safe.encode())
    return "".join(chr(b) if b in keep else f"%{b:02X}" for b in text.encode())


def _error_message(data: bytes) -> str:
    text = data.decode("utf-8", "replace").strip()
    try:
        return str(json.loads(text).get("message", text)).strip()
    except (ValueError, AttributeError):
        return text.splitlines()[0] if text else ""
