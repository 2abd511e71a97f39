"""Work to finish before a process exits: gunicorn's `worker_exit` and an atexit hook call this."""

import logging
from collections.abc import Callable

logger = logging.getLogger(__name__)

_hooks: list[Callable[[], None]] = []


def register_shutdown_hook(hook: Callable[[], None]) -> None:
    """Register a flush (such as the analytics client's) to run at shutdown; never raises."""
    if hook not in _hooks:
        _hooks.append(hook)


def run_shutdown_hooks() -> None:
    for hook in _hooks:
        try:
            hook()
        except Exception:
            logger.exception("Shutdown hook %r failed", hook)
