import logging

from core.queue import app
from publishing import services

logger = logging.getLogger(__name__)


@app.task(queue="publishing")
def advance_publication(publication_id: str) -> None:
    outcome = services.publication_advance(publication_id=publication_id)
    logger.info("Publication %s: %s", publication_id, outcome)


@app.periodic(cron="* * * * *", periodic_id="reconcile_publications")
@app.task(queue="publishing", queueing_lock="reconcile_publications")
def reconcile_publications(timestamp: int) -> None:
    """The backstop: scheduled posts that are due, and steps whose job was lost or whose worker died."""
    report = services.publications_reconcile()
    if report.queued:
        logger.info("Publication reconciliation: %s", report)
