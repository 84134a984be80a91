"""The HTTP edge of `serve`: Django (a WSGI app) behind granian's RSGI interface (or any ASGI
server), handed only complete requests.

Under granian's WSGI interface a request thread read the body from the network itself, so four
clients dripping a body one byte a second took all four threads and the whole service (pages,
API, /api/health, every Duplicati report) waited as long as they dripped. Here the event loop
reads each body, which costs a slow client a coroutine, not a thread, and within a deadline
(408 after it) and a size bound (413 above DUPLISTATUS_MAX_UPLOAD_BYTES, whether announced by
Content-Length or found while reading a chunked body). Only then does a thread of a fixed pool
run Django, with the body in memory (on disk above SPOOL_BYTES) and its length in
CONTENT_LENGTH, so chunked uploads are read whole too. Responses go back from the event loop:
a client that reads slowly holds no thread either.

Why not a2wsgi's or asgiref's bridges: their threads read the body through the event loop on
demand (a slow client still holds a thread), and asgiref's gives each request a new thread,
which loses Django's persistent database connections.
"""

from __future__ import annotations

import asyncio
import io
import json
import sys
import tempfile
from collections.abc import Awaitable, Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import IO, Any

from granian.rsgi import ProtocolClosed as RSGIProtocolClosed
from granian.rsgi import ProtocolError as RSGIProtocolError

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
WSGIApp = Callable[..., Iterable[bytes]]

SPOOL_BYTES = 256 * 1024  # a body above this waits on disk, not in memory
RESPONSE_BATCH_BYTES = 256 * 1024  # response bytes a thread hands to the loop at once


class BodyTooLarge(Exception):
    pass


class ClientGone(Exception):
    pass


async def read_body(receive: Receive, limit: int) -> IO[bytes]:
    """The whole request body, at most `limit` bytes."""
    message = await receive()
    if message["type"] == "http.disconnect":
        raise ClientGone
    first = message.get("body", b"")
    if not message.get("more_body", False):  # the usual report: one message
        if len(first) > limit:
            raise BodyTooLarge
        return io.BytesIO(first)
    body: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)
    size = len(first)
    body.write(first)
    while message.get("more_body", False):
        if size > limit:
            raise BodyTooLarge
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        body.write(chunk)
    if size > limit:
        raise BodyTooLarge
    body.seek(0)
    return body


def build_environ(scope: Scope, body: IO[bytes], length: int) -> dict[str, Any]:
    """The WSGI environ (PEP 3333) of an ASGI HTTP scope whose body has been read."""
    root_path = scope.get("root_path", "")
    path = scope["path"]
    if root_path and path.startswith(root_path):
        path = path[len(root_path) :]
    server = scope.get("server") or ("localhost", 80)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": root_path.encode().decode("latin-1"),
        "PATH_INFO": path.encode().decode("latin-1"),
        "QUERY_STRING": scope.get("query_string", b"").decode("latin-1"),
        "SERVER_NAME": str(server[0]),
        "SERVER_PORT": str(server[1] or 80),
        "SERVER_PROTOCOL": f"HTTP/{scope.get('http_version', '1.1')}",
        "CONTENT_LENGTH": str(length),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": body,
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    client = scope.get("client")
    if client:
        environ["REMOTE_ADDR"], environ["REMOTE_PORT"] = client[0], str(client[1])
    for raw_name, raw_value in scope.get("headers", []):
        name = raw_name.decode("latin-1").upper().replace("-", "_")
        value = raw_value.decode("latin-1")
        if name == "CONTENT_LENGTH":
            continue  # the length of what was read, set above
        key = "CONTENT_TYPE" if name == "CONTENT_TYPE" else "HTTP_" + name
        environ[key] = f"{environ[key]},{value}" if key in environ else value
    return environ


def build_rsgi_environ(scope: Any, body: IO[bytes], length: int) -> dict[str, Any]:
    """The WSGI environ of a granian RSGI scope whose body has been read (as build_environ)."""
    server_host, _, server_port = scope.server.rpartition(":")
    environ: dict[str, Any] = {
        "REQUEST_METHOD": scope.method,
        "SCRIPT_NAME": "",
        "PATH_INFO": scope.path.encode().decode("latin-1"),
        "QUERY_STRING": scope.query_string,
        "SERVER_NAME": server_host.strip("[]") or "localhost",
        "SERVER_PORT": server_port or "80",
        "SERVER_PROTOCOL": f"HTTP/{scope.http_version}",
        "CONTENT_LENGTH": str(length),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.scheme,
        "wsgi.input": body,
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    if scope.client:
        address, _, port = scope.client.rpartition(":")
        environ["REMOTE_ADDR"], environ["REMOTE_PORT"] = address.strip("[]"), port
    for name, value in scope.headers.items():
        name = name.upper().replace("-", "_")
        if name == "CONTENT_LENGTH":
            continue  # the length of what was read, set above
        key = "CONTENT_TYPE" if name == "CONTENT_TYPE" else "HTTP_" + name
        environ[key] = f"{environ[key]},{value}" if key in environ else value
    return environ


async def read_rsgi_body(proto: Any, declared: int | None, limit: int) -> IO[bytes]:
    """The whole request body of a granian RSGI request, at most `limit` bytes: with a
    Content-Length (already checked against `limit`) read by granian in one piece, else
    (chunked) piece by piece with the bound checked as it grows."""
    if declared is not None:
        return io.BytesIO(await proto())
    body: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)
    size = 0
    async for chunk in proto:
        size += len(chunk)
        if size > limit:
            body.close()
            raise BodyTooLarge
        body.write(chunk)
    body.seek(0)
    return body


class Response:
    """What a WSGI app answered, collected in a request thread."""

    def __init__(self) -> None:
        self.status = 500
        self.headers: list[tuple[bytes, bytes]] = []
        self.str_headers: list[tuple[str, str]] = []  # as the app gave them (for RSGI)
        self.written: list[bytes] = []  # through the legacy write() callable

    def start_response(self, status: str, headers: list[tuple[str, str]], exc_info: Any = None):
        self.status = int(status.split(" ", 1)[0])
        self.str_headers = headers
        self.headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]
        return self.written.append


def next_batch(chunks: Iterator[bytes]) -> tuple[list[bytes], bool]:
    """Response chunks up to RESPONSE_BATCH_BYTES, and whether the response is complete."""
    batch, size = [], 0
    for chunk in chunks:
        if chunk:
            batch.append(chunk)
            size += len(chunk)
            if size >= RESPONSE_BATCH_BYTES:
                return batch, False
    return batch, True


class BufferedWSGI:
    """ASGI app running `app` (WSGI) in `threads` threads on complete requests."""

    def __init__(self, app: WSGIApp, threads: int, max_body_bytes: int, body_timeout: float):
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.body_timeout = body_timeout
        self.executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="web")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return  # no websockets or lifespan here (granian's ASGINL)
        declared = _content_length(scope)
        if declared is not None and declared > self.max_body_bytes:
            return await self.error(send, 413, self.too_large())
        try:
            async with asyncio.timeout(self.body_timeout):
                body = await read_body(receive, self.max_body_bytes)
        except TimeoutError:
            return await self.error(
                send, 408, f"request body not received within {self.body_timeout:g} s"
            )
        except BodyTooLarge:
            return await self.error(send, 413, self.too_large())
        except ClientGone:
            return
        length = body.seek(0, io.SEEK_END)
        body.seek(0)
        environ = build_environ(scope, body, length)
        loop = asyncio.get_running_loop()
        try:
            response, chunks, batch, done = await loop.run_in_executor(
                self.executor, self.run, environ
            )
        finally:
            body.close()
        await send(
            {"type": "http.response.start", "status": response.status, "headers": response.headers}
        )
        while not done:
            # A large response (a static file): the rest in batches, read in a thread.
            for chunk in batch:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            batch, done = await loop.run_in_executor(self.executor, next_batch, chunks)
        # The usual response, or the last batch, in one message.
        await send({"type": "http.response.body", "body": b"".join(batch), "more_body": False})

    async def __rsgi__(self, scope: Any, proto: Any) -> None:
        """The same under granian's RSGI interface, which `serve` uses: granian reads a body
        of known length in one piece and takes the response in one call, without ASGI's
        message dicts (bench/ingest.py: less CPU per request)."""
        if scope.proto != "http":
            return
        declared = _declared_length(scope.headers.get("content-length"))
        if declared is not None and declared > self.max_body_bytes:
            return self.rsgi_error(proto, 413, self.too_large())
        try:
            async with asyncio.timeout(self.body_timeout):
                body = await read_rsgi_body(proto, declared, self.max_body_bytes)
        except TimeoutError:
            return self.rsgi_error(
                proto, 408, f"request body not received within {self.body_timeout:g} s"
            )
        except BodyTooLarge:
            return self.rsgi_error(proto, 413, self.too_large())
        except (RSGIProtocolClosed, RSGIProtocolError):
            return  # the client went away
        length = body.seek(0, io.SEEK_END)
        body.seek(0)
        environ = build_rsgi_environ(scope, body, length)
        loop = asyncio.get_running_loop()
        try:
            response, chunks, batch, done = await loop.run_in_executor(
                self.executor, self.run, environ
            )
        finally:
            body.close()
        if done:  # the usual response, in one piece
            proto.response_bytes(response.status, response.str_headers, b"".join(batch))
            return
        transport = proto.response_stream(response.status, response.str_headers)
        while True:
            for chunk in batch:
                await transport.send_bytes(chunk)
            if done:
                return
            batch, done = await loop.run_in_executor(self.executor, next_batch, chunks)

    @staticmethod
    def rsgi_error(proto: Any, status: int, message: str) -> None:
        body = json.dumps({"error": message}).encode()
        headers = [("content-type", "application/json"), ("connection", "close")]
        proto.response_bytes(status, headers, body)

    def run(self, environ: dict[str, Any]) -> tuple[Response, Iterator[bytes], list[bytes], bool]:
        """Django on one request, in a request thread: the response and its first batch."""
        response = Response()
        iterable = self.app(environ, response.start_response)
        chunks = _closing_iter(iterable)
        batch, done = next_batch(chunks)
        return response, chunks, response.written + batch, done

    def too_large(self) -> str:
        return f"request body too large: the limit is {self.max_body_bytes} bytes"

    @staticmethod
    async def error(send: Send, status: int, message: str) -> None:
        body = json.dumps({"error": message}).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})


def _declared_length(value: str | None) -> int | None:
    try:
        return None if value is None else int(value)
    except ValueError:
        return None


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _closing_iter(iterable: Iterable[bytes]) -> Iterator[bytes]:
    """Iterates the app's response and then closes it, as WSGI requires (Django's close()
    ends the request: signals, database connections)."""
    try:
        yield from iterable
    finally:
        close = getattr(iterable, "close", None)
        if close is not None:
            close()
