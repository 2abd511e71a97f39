"""The job queue (procrastinate on PostgreSQL) as the rest of the code sees it.

The rule: tasks are an interface, like views. A `tasks.py` imports its services; a service
never imports tasks, it defers them by name with `defer()`. So no module imports another
in a circle, and the queue is the only thing between a service and the task it queues.
"""

import atexit
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


def on_app_ready(app: App) -> None:
    """Flush what analytics still buffer when the process exits (a queue worker stopping, too).

    Not after each job: events already leave from the SDK's background thread, and a blocking
    flush would add PostHog's outage to every job. Each hook bounds its own wait.
    """
    # Unregistered first so a second Django set-up in the same process does not flush twice.
    atexit.unregister(run_shutdown_hooks)
    atexit.register(run_shutdown_hooks)
