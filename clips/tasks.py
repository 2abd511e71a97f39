from procrastinate import RetryStrategy
from procrastinate.contrib.django import app

from clips import services
from integrations.twitch import TwitchError


@app.task(queue="imports")
def run_clip_import(clip_import_id: str) -> None:
    services.clip_import_run(clip_import_id=clip_import_id)


@app.task(queue="imports", retry=RetryStrategy(max_attempts=5, exponential_wait=30, retry_exceptions={TwitchError}))
def refresh_twitch_account(account_id: str) -> None:
    services.twitch_account_refresh(account_id=account_id)


@app.task(queue="media")
def fetch_clip_media(clip_id: str) -> None:
    services.clip_media_fetch(clip_id=clip_id)
