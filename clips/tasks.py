from clips import services
from core.queue import app


@app.task(queue="imports")
def run_clip_import(clip_import_id: str) -> None:
    services.clip_import_run(clip_import_id=clip_import_id)


@app.task(queue="media")
def fetch_clip_media(clip_id: str) -> None:
    services.clip_media_fetch(clip_id=clip_id)
