import logging

from django.conf import settings

from core.queue import app
from integrations.twitch import TwitchClient, TwitchError

logger = logging.getLogger(__name__)


@app.periodic(cron="7 * * * *", periodic_id="validate_twitch_app_token")
@app.task(queueing_lock="validate_twitch_app_token")
def validate_twitch_app_token(timestamp: int) -> None:
    """Twitch requires apps to validate their tokens hourly; a rejected one is replaced."""
    if not settings.TWITCH_CLIENT_ID:
        return
    try:
        TwitchClient().validate_app_token()
    except TwitchError as exc:
        logger.warning("Twitch app token validation failed: %s", exc)
