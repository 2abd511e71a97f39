"""Concurrency against real PostgreSQL: the same request from several threads at once, a lock held elsewhere."""

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from django.db import connection

from core.locks import advisory_lock

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


@contextmanager
def lock_held_elsewhere(name: str) -> Iterator[None]:
    """Hold a PostgreSQL advisory lock from another thread (so another connection), as a second worker would."""
    acquired, release = threading.Event(), threading.Event()

    def hold() -> None:
        try:
            with advisory_lock(name) as got:
                if got:
                    acquired.set()
                    release.wait(timeout=30)
        finally:
            connection.close()

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert acquired.wait(timeout=10), "the other connection could not take the lock"
        yield
    finally:
        release.set()
        thread.join(timeout=10)
