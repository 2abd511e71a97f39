"""Fixtures of the automations tests (the shared ones live in the root conftest.py)."""

import pytest

from integrations.tests.fakes import EVENTSUB_SECRET

PUBLIC_BASE_URL = "https://app.creatorsync.test"
EVENTSUB_CALLBACK_URL = f"{PUBLIC_BASE_URL}/webhooks/twitch/"  # our callback: PUBLIC_BASE_URL + the webhook's path


@pytest.fixture
def eventsub(twitch, settings, monkeypatch):
    """Stream notifications on: the EventSub secret set, our callback under PUBLIC_BASE_URL, the default
    import delays, and a fake Twitch whose app token answers (tests register the Helix answers they need).
    Retries do not wait. Returns the `responses` mock."""
    settings.TWITCH_EVENTSUB_SECRET = EVENTSUB_SECRET
    settings.PUBLIC_BASE_URL = PUBLIC_BASE_URL
    settings.STREAM_IMPORT_DELAYS_SECONDS = [300, 3600]
    monkeypatch.setattr("integrations.http._backoff", lambda *args, **kwargs: None)
    return twitch
