from procrastinate import RetryStrategy
from procrastinate.contrib.django import app

from accounts import services
from integrations.clerk.backend_api import ClerkAPIError


@app.task(
    retry=RetryStrategy(max_attempts=6, exponential_wait=5, retry_exceptions={ClerkAPIError}),
)
def sync_clerk_profile(clerk_id: str) -> None:
    """Fill in a profile that could not be fetched on the user's first request."""
    services.clerk_profile_sync(clerk_id=clerk_id)
