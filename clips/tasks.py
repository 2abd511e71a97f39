import logging

from clips import layouts, services, transcripts
from core.queue import app

logger = logging.getLogger(__name__)


@app.task(queue="imports")
def run_clip_import(clip_import_id: str) -> None:
    services.clip_import_run(clip_import_id=clip_import_id)


@app.task(queue="media")
def fetch_clip_media(clip_id: str) -> None:
    services.clip_media_fetch_requested(clip_id=clip_id)


@app.periodic(cron="*/10 * * * *", periodic_id="recover_stalled_clip_imports")
@app.task(queue="imports", queueing_lock="recover_stalled_clip_imports")
def recover_stalled_clip_imports(timestamp: int) -> None:
    """The backstop for imports whose worker died: they are failed, to be resumed, instead of blocking new ones."""
    recovered = services.clip_imports_recover_stalled()
    if recovered:
        logger.warning("Recovered %d stalled clip import(s): %s", len(recovered), ", ".join(recovered))
    # Recognitions too: a transcript never stays `running` after its worker died.
    failed = transcripts.transcripts_recover_stalled() + layouts.layout_suggestions_recover_stalled()
    if failed:
        logger.warning("Failed %d stalled recognition(s) or detection(s): %s", len(failed), ", ".join(failed))


@app.task(queue="media")
def transcribe_clip(transcript_id: str, run_id: int | None = None) -> None:
    transcripts.transcript_recognise(transcript_id=transcript_id, run_id=run_id)


@app.task(queue="media")
def detect_clip_layout(suggestion_id: str) -> None:
    layouts.layout_detect(suggestion_id=suggestion_id)
