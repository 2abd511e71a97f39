from procrastinate import RetryStrategy

from accounts import services
from core.queue import app
from integrations.clerk.backend_api import ClerkAPIError
from integrations.twitch import TwitchError


@app.task(
    retry=RetryStrategy(max_attempts=6, exponential_wait=5, retry_exceptions={ClerkAPIError}),
)
def sync_clerk_profile(clerk_id: str) -> None:
    """Fill in a profile that could not be fetched on the user's first request."""
    services.clerk_profile_sync(clerk_id=clerk_id)


# The alias runs jobs queued before the task moved here from clips.
@app.task(
    queue="imports",
    aliases=["clips.tasks.refresh_twitch_account"],
    retry=RetryStrategy(max_attempts=5, exponential_wait=30, retry_exceptions={TwitchError}),
)
def refresh_twitch_account(account_id: str) -> None:
    services.twitch_account_refresh(account_id=account_id)
