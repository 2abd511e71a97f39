import logging

from procrastinate import JobContext, RetryStrategy

from core.queue import app
from renders import services

logger = logging.getLogger(__name__)


@app.task(queue="renders")
def dispatch_render(job_id: str) -> None:
    outcome = services.render_dispatch(job_id=job_id)
    logger.info("Dispatch of render %s: %s", job_id, outcome)


@app.task(queue="renders")
def dispatch_waiting_renders() -> None:
    services.renders_dispatch_waiting()


# Its own queue: slow downloads never delay dispatches.
@app.task(queue="outputs", retry=RetryStrategy(max_attempts=8, exponential_wait=10))
def copy_render_output(job_id: str) -> None:
    services.render_output_copy(job_id=job_id)


@app.task(queue="local_renders", pass_context=True)
def render_locally(context: JobContext, job_id: str) -> None:
    """The local backend's worker: renders with ffmpeg and reports like a webhook would.

    procrastinate asks a running job to stop (should_abort) when its worker's shutdown grace
    period ends, or when staff abort the queue job: the render is then queued again.
    """
    services.render_run_locally(job_id=job_id, stop_requested=context.should_abort)


@app.periodic(cron="* * * * *", periodic_id="reconcile_renders")
@app.task(queue="renders", queueing_lock="reconcile_renders")
def reconcile_renders(timestamp: int) -> None:
    """The backstop for lost webhooks, dead dispatches and runaway renders."""
    report = services.renders_reconcile()
    if report.polled or report.requeued or report.timed_out or report.unconfirmed:
        logger.info("Render reconciliation: %s", report)
