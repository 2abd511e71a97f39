"""A queue worker that outlives the database and stops within a bound.

procrastinate's worker stops for good when its database goes away (after a short outage
it exits with status 0, after a longer one with 1). This runs it under a supervisor: when
the worker ends without being asked to, the supervisor waits for the database with a
capped backoff and starts it again, so processing resumes within seconds of the
database's return. SIGTERM or SIGINT stops it gracefully: running jobs get
QUEUE_SHUTDOWN_TIMEOUT_SECONDS, then are asked to stop (see render_locally).
"""

import asyncio
import contextlib
import logging
import signal
from collections.abc import Iterable

import psycopg
from django.conf import settings
from procrastinate.contrib.django.utils import connector_params
from procrastinate.psycopg_connector import PsycopgConnector

from core.queue import app
from core.workdirs import work_folders_remove_orphans

logger = logging.getLogger(__name__)

FIRST_RECONNECT_WAIT_SECONDS = 0.5
STEADY_RUN_SECONDS = 30
POOL_WAIT_SECONDS = 5
PROBE_CONNECT_TIMEOUT_SECONDS = 2
# Beyond the jobs' grace period: time for a stopped render to requeue itself and the worker to unregister.
STOP_MARGIN_SECONDS = 10


def worker_run_supervised(*, queues: Iterable[str] | None = None) -> None:
    """Run the queue worker until SIGTERM or SIGINT, restarting it whenever it stops by itself."""
    work_folders_remove_orphans()
    asyncio.run(_supervise(list(queues) if queues else None))


async def _supervise(queues: list[str] | None) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    quick_failures = 0
    while not stop.is_set():
        started = loop.time()
        await _run_worker_once(queues, stop)
        if stop.is_set():
            break
        # A worker that keeps failing at once (the database answers, but something else is wrong)
        # is restarted less and less often instead of in a tight loop.
        quick_failures = quick_failures + 1 if loop.time() - started < STEADY_RUN_SECONDS else 0
        await _wait_for_database(stop, first_wait=FIRST_RECONNECT_WAIT_SECONDS * 2**quick_failures)
    logger.info("Queue worker stopped")


async def _run_worker_once(queues: list[str] | None, stop: asyncio.Event) -> None:
    """Run one worker until it ends by itself or `stop` is set."""
    try:
        with app.replace_connector(_worker_connector()) as worker_app:
            async with worker_app.open_async():
                worker = asyncio.create_task(
                    worker_app.run_worker_async(queues=queues, wait=True, install_signal_handlers=False)
                )
                stopping = asyncio.create_task(stop.wait())
                await asyncio.wait({worker, stopping}, return_when=asyncio.FIRST_COMPLETED)
                stopping.cancel()
                if not worker.done():
                    # procrastinate shields its loop from the cancellation and shuts down gracefully:
                    # running jobs get their grace period, then are asked to stop.
                    worker.cancel()
                    await _wait_bounded(worker, seconds=_stop_bound_seconds())
    except Exception as exc:
        logger.warning("The queue worker stopped: %s: %s", type(exc).__name__, exc)
    else:
        if not stop.is_set():
            logger.warning("The queue worker stopped by itself (its database connection was lost?)")


def _worker_connector() -> PsycopgConnector:
    # procrastinate's default pool waits 30 s for a connection, retrying, before it gives up:
    # during an outage that delays both the recovery and the shutdown. Ours gives up sooner.
    return PsycopgConnector(kwargs=connector_params("default"), timeout=POOL_WAIT_SECONDS)


def _stop_bound_seconds() -> float:
    return settings.PROCRASTINATE_WORKER_DEFAULTS["shutdown_graceful_timeout"] + STOP_MARGIN_SECONDS


async def _wait_bounded(task: asyncio.Task, *, seconds: float) -> None:
    done, _ = await asyncio.wait({task}, timeout=seconds)
    if not done:
        logger.warning("The queue worker did not stop within %.0f s; leaving it", seconds)
        return
    with contextlib.suppress(asyncio.CancelledError):
        task.result()


async def _wait_for_database(stop: asyncio.Event, *, first_wait: float) -> None:
    """Wait until the queue's tables answer again, backing off up to QUEUE_RECONNECT_MAX_WAIT_SECONDS."""
    wait = min(first_wait, settings.QUEUE_RECONNECT_MAX_WAIT_SECONDS)
    while not stop.is_set():
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=wait)
        if stop.is_set() or await _first_of(_database_answers(), stop):
            return
        wait = min(wait * 2, settings.QUEUE_RECONNECT_MAX_WAIT_SECONDS)
        logger.info("The queue database does not answer yet; next try in %.1f s", wait)


async def _database_answers() -> bool:
    """One plain connection and one query on the queue's table, each bounded."""
    try:
        async with await psycopg.AsyncConnection.connect(
            **{**connector_params("default"), "connect_timeout": PROBE_CONNECT_TIMEOUT_SECONDS}
        ) as probe:
            await asyncio.wait_for(probe.execute("SELECT 1 FROM procrastinate_jobs LIMIT 1"), timeout=5)
    except Exception:
        return False
    return True


async def _first_of(probe, stop: asyncio.Event) -> bool:
    """The probe's answer, or False as soon as a stop is asked for (a probe never delays a shutdown)."""
    probing = asyncio.create_task(probe)
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({probing, stopping}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if not probing.done():
        probing.cancel()
        return False
    return probing.result()
