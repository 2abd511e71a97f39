"""Run the same request from several threads at once, as concurrent clients against real PostgreSQL."""

import threading
from collections.abc import Callable
from typing import TypeVar

from django.db import connection

T = TypeVar("T")


def run_concurrently(call: Callable[[], T], *, times: int) -> list[T]:
    """Call `call` from `times` threads released together; return the results, re-raising any thread's error.

    Each thread uses its own database connection, closed when it ends, so tests need
    `django_db(transaction=True)`.
    """
    start = threading.Barrier(times)
    results: list[T] = []
    failures: list[BaseException] = []

    def run() -> None:
        try:
            start.wait(timeout=10)
            results.append(call())
        except BaseException as exc:  # reported by the calling thread
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(times)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    if failures:
        raise failures[0]
    return results
