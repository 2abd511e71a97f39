"""Queue housekeeping, run by every worker's periodic scheduler (each tick runs once overall)."""

import logging

from django.conf import settings
from procrastinate import builtin_tasks

from core.queue import app

logger = logging.getLogger(__name__)


# No `lock=` here: a lock would itself get stuck behind a stalled job.
@app.periodic(cron="*/5 * * * *", periodic_id="retry_stalled_jobs")
@app.task(queueing_lock="retry_stalled_jobs", pass_context=True)
async def retry_stalled_jobs(context, timestamp: int) -> None:
    """Re-queue jobs whose worker died (no heartbeat). Every task must therefore be idempotent."""
    stalled = await context.app.job_manager.get_stalled_jobs(
        seconds_since_heartbeat=settings.QUEUE_STALLED_AFTER_SECONDS
    )
    for job in stalled:
        logger.warning("Retrying stalled job %s (%s)", job.id, job.task_name)
        await context.app.job_manager.retry_job(job)


@app.periodic(cron="17 3 * * *", periodic_id="prune_finished_jobs")
@app.task(queueing_lock="prune_finished_jobs", pass_context=True)
async def prune_finished_jobs(context, timestamp: int) -> None:
    """Delete succeeded jobs older than QUEUE_KEEP_FINISHED_JOBS_HOURS; failed ones stay for inspection."""
    await builtin_tasks.remove_old_jobs(context, max_hours=settings.QUEUE_KEEP_FINISHED_JOBS_HOURS)
