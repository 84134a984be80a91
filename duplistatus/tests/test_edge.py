"""edge.RequestThreads: Django runs in a few request threads. One request after another goes
to the same thread (its database connection's page cache is warm: bench/ingest.py), requests
at once to as many threads as there are, and more than that wait their turn."""

from __future__ import annotations

import asyncio
import threading

import pytest

from duplistatus.edge import RequestThreads


def test_request_threads():
    async def scenario() -> None:
        threads = RequestThreads(3)
        loop = asyncio.get_running_loop()

        def submit(function) -> asyncio.Future:
            future = loop.create_future()
            threads.submit((loop, future, function, None))
            return future

        def thread_name(_: object) -> str:
            return threading.current_thread().name

        one_after_another = [await submit(thread_name) for _ in range(5)]
        assert len(set(one_after_another)) == 1

        three_at_a_time = threading.Barrier(3, timeout=10)

        def meet(_: object) -> str:
            three_at_a_time.wait()  # fails unless three run at once
            return thread_name(_)

        at_once = await asyncio.gather(*(submit(meet) for _ in range(6)))
        assert len(at_once) == 6 and len(set(at_once)) == 3

        with pytest.raises(ZeroDivisionError):
            await submit(lambda _: 1 / 0)

    asyncio.run(scenario())
