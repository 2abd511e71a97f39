"""Wiring for the procrastinate app (PROCRASTINATE_ON_APP_READY)."""

import asyncio

from procrastinate import App

from creatorsync.shutdown import run_shutdown_hooks


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
