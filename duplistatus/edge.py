"""The HTTP edge of `serve`: Django (a WSGI app) behind granian's RSGI interface, handed only
complete requests.

Under granian's WSGI interface a request thread read the body from the network itself, so four
clients dripping a body one byte a second took all four threads and the whole service (pages,
API, /api/health, every Duplicati report) waited as long as they dripped. Here the event loop
reads each body, which costs a slow client a coroutine, not a thread, and within a deadline
(408 after it) and a size bound (413 above DUPLISTATUS_MAX_UPLOAD_BYTES, whether announced by
Content-Length or found while reading a chunked body). Only then does one of a fixed set of
request threads run Django, with the body in memory (on disk above SPOOL_BYTES) and its length
in CONTENT_LENGTH, so chunked uploads are read whole too. Responses go back from the event
loop: a client that reads slowly holds no thread either.

Work goes to the request thread that became idle last, and the result comes back with one
call_soon_threadsafe. In turn, as a shared queue (or a ThreadPoolExecutor) hands it out, each
request met a database connection whose page cache SQLite had dropped because another
thread's connection had written since: ~0.5 ms more CPU per upload (bench/ingest.py; the floor
server spends 0.4 ms on a whole upload). loop.run_in_executor, besides, wraps a
concurrent.futures.Future in an asyncio one and chains the two: ~0.1 ms more.

Why not a2wsgi's or asgiref's bridges: their threads read the body through the event loop on
demand (a slow client still holds a thread), and asgiref's gives each request a new thread,
which loses Django's persistent database connections.
"""

from __future__ import annotations

import asyncio
import collections
import io
import json
import queue
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any

from granian.rsgi import ProtocolClosed as RSGIProtocolClosed
from granian.rsgi import ProtocolError as RSGIProtocolError

WSGIApp = Callable[..., Iterable[bytes]]

SPOOL_BYTES = 256 * 1024  # a body above this waits on disk, not in memory
RESPONSE_BATCH_BYTES = 256 * 1024  # response bytes a thread hands to the loop at once


class BodyTooLarge(Exception):
    pass


def build_rsgi_environ(scope: Any, body: IO[bytes], length: int) -> dict[str, Any]:
    """The WSGI environ (PEP 3333) of a granian RSGI scope whose body has been read."""
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
        self.headers: list[tuple[str, str]] = []
        self.written: list[bytes] = []  # through the legacy write() callable

    def start_response(self, status: str, headers: list[tuple[str, str]], exc_info: Any = None):
        self.status = int(status.split(" ", 1)[0])
        self.headers = headers
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
    """RSGI app running `app` (WSGI) in `threads` request threads on complete requests."""

    def __init__(self, app: WSGIApp, threads: int, max_body_bytes: int, body_timeout: float):
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.body_timeout = body_timeout
        self.threads = RequestThreads(threads)

    async def __rsgi__(self, scope: Any, proto: Any) -> None:
        """granian reads a body of known length in one piece and takes the response in one
        call (bench/ingest.py: less CPU per request than ASGI's message dicts)."""
        if scope.proto != "http":
            return
        declared = _declared_length(scope.headers.get("content-length"))
        if declared is not None and declared > self.max_body_bytes:
            return self.error(proto, 413, self.too_large())
        try:
            async with asyncio.timeout(self.body_timeout):
                body = await read_rsgi_body(proto, declared, self.max_body_bytes)
        except TimeoutError:
            return self.error(
                proto, 408, f"request body not received within {self.body_timeout:g} s"
            )
        except BodyTooLarge:
            return self.error(proto, 413, self.too_large())
        except (RSGIProtocolClosed, RSGIProtocolError):
            return  # the client went away
        length = body.seek(0, io.SEEK_END)
        body.seek(0)
        environ = build_rsgi_environ(scope, body, length)
        response, chunks, batch, done = await self.in_thread(self.run, environ)
        if done:  # the usual response, in one piece
            proto.response_bytes(response.status, response.headers, b"".join(batch))
            return
        transport = proto.response_stream(response.status, response.headers)
        while True:
            for chunk in batch:
                await transport.send_bytes(chunk)
            if done:
                return
            batch, done = await self.in_thread(next_batch, chunks)

    def in_thread[T](self, function: Callable[..., T], argument: Any) -> asyncio.Future[T]:
        """`function(argument)` in a request thread; its result (or exception) as a future
        of the running loop."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self.threads.submit((loop, future, function, argument))
        return future

    def run(self, environ: dict[str, Any]) -> tuple[Response, Iterator[bytes], list[bytes], bool]:
        """Django on one request, in a request thread: the response and its first batch."""
        try:
            response = Response()
            iterable = self.app(environ, response.start_response)
            chunks = _closing_iter(iterable)
            batch, done = next_batch(chunks)
            return response, chunks, response.written + batch, done
        finally:
            environ["wsgi.input"].close()

    @staticmethod
    def error(proto: Any, status: int, message: str) -> None:
        body = json.dumps({"error": message}).encode()
        headers = [("content-type", "application/json"), ("connection", "close")]
        proto.response_bytes(status, headers, body)

    def too_large(self) -> str:
        return f"request body too large: the limit is {self.max_body_bytes} bytes"


Job = tuple[Any, "asyncio.Future[Any]", Callable[..., Any], Any]  # loop, future, function, arg


class RequestThreads:
    """`count` threads running jobs; a job goes to the thread that became idle last (see the
    module's docstring), or waits for the first to finish when all are busy."""

    def __init__(self, count: int):
        self.lock = threading.Lock()
        self.idle: list[queue.SimpleQueue[Job]] = []  # a stack: the last to finish on top
        self.waiting: collections.deque[Job] = collections.deque()
        for k in range(count):
            inbox: queue.SimpleQueue[Job] = queue.SimpleQueue()
            self.idle.append(inbox)
            threading.Thread(target=self.run, args=(inbox,), name=f"web_{k}", daemon=True).start()

    def submit(self, job: Job) -> None:
        with self.lock:
            if not self.idle:
                self.waiting.append(job)
                return
            inbox = self.idle.pop()
        inbox.put(job)

    def run(self, inbox: queue.SimpleQueue[Job]) -> None:
        while True:
            job: Job | None = inbox.get()
            while job is not None:
                loop, future, function, argument = job
                try:
                    outcome = (function(argument), None)
                except BaseException as exc:  # handed to the coroutine, which raises it
                    outcome = (None, exc)
                with self.lock:  # the next waiting job, or back on the idle stack
                    job = self.waiting.popleft() if self.waiting else None
                    if job is None:
                        self.idle.append(inbox)
                # Answered only once this thread is idle again, so that the client's next
                # request (sent when it has this answer) finds this thread on top.
                try:
                    loop.call_soon_threadsafe(_settle, future, *outcome)
                except RuntimeError:
                    pass  # the loop is closed: the server is stopping


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.cancelled():
        return  # the request was given up (the server is stopping)
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


def _declared_length(value: str | None) -> int | None:
    try:
        return None if value is None else int(value)
    except ValueError:
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
