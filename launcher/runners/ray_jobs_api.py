"""A small client for the Ray Jobs REST API of a cluster's dashboard (GET /api/version, /api/jobs/ID,
/api/jobs/ID/logs, POST /api/jobs/ID/stop, and the log-tail websocket), plus the state API's raw log
file endpoint for the job's driver log, byte for byte.

Only submission goes through Ray's SDK (it packages and uploads the working directory). Everything a
run's monitor and `cancel` do afterwards goes through here because the SDK's requests carry no
timeout, so a cluster that stops answering would hang them forever; this client times out and says so.
It imports only the standard library (aiohttp lazily, for the tail), which keeps a monitor's start fast."""

from __future__ import annotations

import http.client
import json
import socket
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator
from typing import Any

DEFAULT_TIMEOUT = 10.0


class ClusterError(Exception):
    """A request to the cluster that gave no usable answer."""


class ClusterUnreachable(ClusterError):
    """The cluster did not answer: refused, reset or timed out (or is not a Ray dashboard at all)."""


class ClusterAnswerError(ClusterError):
    """The cluster answered, with an HTTP error or with something that is not the Jobs API's JSON: it is
    up, and asking again may well give the same answer (Ray answers 500 for a log it cannot decode)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class JobNotFound(Exception):
    """The cluster answered and does not know the job."""


class RayJobsApi:
    def __init__(self, address: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.address = address.rstrip("/")
        self.timeout = timeout

    # -- requests -------------------------------------------------------------------------------------
    def _request(self, method: str, path: str) -> tuple[int, bytes]:
        request = urllib.request.Request(self.address + path, method=method,
                                         data=b"" if method == "POST" else None)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()
        except urllib.error.URLError as error:
            raise ClusterUnreachable(_reason(error.reason)) from None
        except TimeoutError:
            raise ClusterUnreachable(f"no answer within {self.timeout:g}s") from None
        except (OSError, ValueError, http.client.HTTPException) as error:  # resets, bad addresses, cut answers
            raise ClusterUnreachable(_reason(error)) from None

    def _json(self, method: str, path: str, *, job_id: str | None = None) -> Any:
        status, body = self._request(method, path)
        if status == 404 and job_id is not None:
            raise JobNotFound(job_id)
        if status != 200:
            raise _answer_error(status, path, body)
        try:
            return json.loads(body)
        except ValueError:
            raise ClusterAnswerError(f"{path} did not answer with JSON; is this a Ray dashboard?") from None

    def version(self) -> dict[str, Any]:
        """{'ray_version': ..., 'session_name': ...}; the session name changes when the cluster restarts."""
        status, body = self._request("GET", "/api/version")
        try:
            data = json.loads(body) if status == 200 else None
        except ValueError:
            data = None
        if not isinstance(data, dict) or "ray_version" not in data:
            raise ClusterUnreachable(f"{self.address} answers but not as a Ray dashboard "
                                     f"(GET /api/version gave HTTP {status})")
        return data

    def job(self, job_id: str) -> dict[str, Any]:
        """The job's details: status, message, error_type, driver_exit_code, ..."""
        return self._json("GET", f"/api/jobs/{_quote(job_id)}", job_id=job_id)

    def logs(self, job_id: str) -> str:
        return self._json("GET", f"/api/jobs/{_quote(job_id)}/logs", job_id=job_id).get("logs") or ""

    def driver_log(self, node_id: str, job_id: str) -> bytes:
        """The job's whole log file from the node that ran its driver, byte for byte. The Jobs API reads
        that file as UTF-8 text, so it fails (HTTP 500) on a log with bytes that are not; this does not."""
        query = urllib.parse.urlencode({"node_id": node_id, "filename": f"job-driver-{job_id}.log", "lines": -1})
        path = f"/api/v0/logs/file?{query}"
        status, body = self._request("GET", path)
        if status != 200:
            raise _answer_error(status, path, body)
        return body

    def stop(self, job_id: str) -> bool:
        return bool(self._json("POST", f"/api/jobs/{_quote(job_id)}/stop", job_id=job_id).get("stopped"))

    # -- the log tail ---------------------------------------------------------------------------------
    async def tail(self, job_id: str) -> AsyncIterator[str]:
        """The job's log from its start, in chunks as the driver writes them; ends when the job has
        ended and its log is read. Raises ClusterUnreachable when the stream breaks off.

        No websocket heartbeat: Ray's tail handlers never read from the socket, so they never answer a
        ping, and a heartbeat would break every stream that is quiet for a while (a pending job, a
        program that prints nothing for a minute). A cluster that vanishes is noticed by the status
        polls instead, and the caller then opens a new stream."""
        import aiohttp

        url = f"{self.address}/api/jobs/{_quote(job_id)}/logs/tail"
        timeout = aiohttp.ClientTimeout(total=None, connect=self.timeout, sock_connect=self.timeout)
        try:
            async with aiohttp.ClientSession(timeout=timeout) as session, \
                    session.ws_connect(url) as ws:
                async for message in ws:
                    if message.type == aiohttp.WSMsgType.TEXT:
                        yield message.data
                    elif message.type == aiohttp.WSMsgType.ERROR:
                        raise ClusterUnreachable(f"log stream error: {ws.exception()}")
                if ws.close_code not in (None, aiohttp.WSCloseCode.OK):
                    raise ClusterUnreachable(f"log stream closed with code {ws.close_code}")
        except aiohttp.WSServerHandshakeError as error:
            if error.status == 404:
                raise JobNotFound(job_id) from None
            raise ClusterAnswerError(f"log stream refused: HTTP {error.status}", error.status) from None
        except (aiohttp.ClientError, OSError, TimeoutError) as error:
            raise ClusterUnreachable(_reason(error) or type(error).__name__) from None


def _answer_error(status: int, path: str, body: bytes) -> ClusterAnswerError:
    text = body.decode("utf-8", "replace").strip().splitlines()
    return ClusterAnswerError(f"HTTP {status} from {path}" + (f": {text[-1][:200]}" if text else ""), status)


def _quote(job_id: str) -> str:
    return urllib.parse.quote(job_id, safe="")


def _reason(reason: object) -> str:
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, TimeoutError | socket.timeout):
        return "no answer (timed out)"
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror.lower()
    return str(reason) or type(reason).__name__


def normalize_address(address: str) -> str:
    """A dashboard address as the Jobs API wants it: scheme://host:port with no trailing slash."""
    address = address.strip().rstrip("/")
    if "://" not in address:
        address = "http://" + address
    return address
