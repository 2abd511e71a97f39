import logging

from django.conf import settings
from procrastinate import RetryStrategy

from automations import eventsub, services, streams
from core.queue import app

logger = logging.getLogger(__name__)


# Twitch down when someone links: tried again for about an hour, then the daily reconciliation catches up.
@app.task(queue="automations", retry=RetryStrategy(max_attempts=6, wait=60, linear_wait=300))
def sync_user_eventsub(user_id: str) -> None:
    if not settings.TWITCH_EVENTSUB_SECRET:
        return  # stream notifications are off (see the README): nothing to subscribe to
    report = eventsub.eventsub_sync_user(user_id=user_id)
    logger.info("EventSub for user %s: %s", user_id, report)


@app.periodic(cron="17 4 * * *", periodic_id="reconcile_eventsub")
@app.task(queue="automations", queueing_lock="reconcile_eventsub")
def reconcile_eventsub(timestamp: int) -> None:
    if settings.TWITCH_EVENTSUB_SECRET:
        logger.info("EventSub reconciliation: %s", eventsub.eventsub_reconcile())


@app.task(queue="automations")
def import_stream_clips(stream_id: str) -> None:
    streams.stream_import(stream_id=stream_id)


@app.periodic(cron="41 5 * * *", periodic_id="import_clips_daily")
@app.task(queue="automations", queueing_lock="import_clips_daily")
def import_clips_daily(timestamp: int) -> None:
    """The backstop for stream notifications that never came."""
    started = streams.streams_import_daily()
    logger.info("Daily clip imports started: %d", len(started))


@app.task(queue="automations")
def match_imported_clips(clip_import_id: str) -> None:
    runs = services.automations_match_import(clip_import_id=clip_import_id)
    if runs:
        logger.info("Import %s started %d automation runs", clip_import_id, len(runs))


@app.task(queue="automations")
def advance_automation_run(run_id: str) -> None:
    outcome = services.automation_run_advance(run_id=run_id)
    logger.info("Automation run %s: %s", run_id, outcome)


@app.periodic(cron="*/10 * * * *", periodic_id="recover_automation_runs")
@app.task(queue="automations", queueing_lock="recover_automation_runs")
def recover_automation_runs(timestamp: int) -> None:
    recovered = services.automation_runs_recover()
    if recovered:
        logger.info("Automation runs queued again: %d", len(recovered))
