"""The job queue (procrastinate on PostgreSQL) as the rest of the code sees it.

The rule: tasks are an interface, like views. A `tasks.py` imports its services; a service
never imports tasks, it defers them by name with `defer()`. So no module imports another
in a circle, and the queue is the only thing between a service and the task it queues.
"""

import asyncio
import contextlib
from typing import Any

from django.db import transaction
from procrastinate import App
from procrastinate.contrib.django import app
from procrastinate.exceptions import AlreadyEnqueued

from core.shutdown import run_shutdown_hooks

__all__ = ["app", "defer", "on_app_ready"]


def defer(
    task_name: str,
    *,
    queueing_lock: str | None = None,
    delay_seconds: float | None = None,
    **task_kwargs: Any,
) -> int | None:
    """Queue the task named `task_name` inside the caller's transaction: a rollback queues nothing.

    With a `queueing_lock`, a job already waiting under that lock is enough: nothing more is
    queued and None is returned. An unknown task name raises at once (procrastinate's TaskNotFound).
    """
    options: dict[str, Any] = {}
    if queueing_lock:
        options["queueing_lock"] = queueing_lock
    if delay_seconds is not None:
        options["schedule_in"] = {"seconds": delay_seconds}
    deferrer = app.configure_task(name=task_name, allow_unknown=False, **options)
    if not queueing_lock:
        return deferrer.defer(**task_kwargs)
    # The refused insert must not abort the caller's transaction: give it a savepoint.
    with contextlib.suppress(AlreadyEnqueued), transaction.atomic():
        return deferrer.defer(**task_kwargs)
    return None


async def flush_after_job(call_next, context, worker):
    """Worker middleware: flush buffered analytics when each job ends, whatever its outcome."""
    try:
        return await call_next()
    finally:
        await asyncio.to_thread(run_shutdown_hooks)


def on_app_ready(app: App) -> None:
    defaults = dict(app.worker_defaults)
    defaults["worker_middleware"] = [*defaults.get("worker_middleware", []), flush_after_job]
    app.worker_defaults = defaults
