import pytest

from accounts.models import TwitchAccount
from clips.tests.factories import BROADCASTER_ID, TWITCH_API_URL, TWITCH_AUTH_URL, make_video


@pytest.fixture
def twitch_settings(settings, tmp_path):
    settings.TWITCH_API_URL = TWITCH_API_URL
    settings.TWITCH_AUTH_URL = TWITCH_AUTH_URL
    settings.TWITCH_CLIENT_ID = "twitch-client-id"
    settings.TWITCH_CLIENT_SECRET = "twitch-client-secret"
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings


@pytest.fixture
def twitch(twitch_settings, mocked_http):
    """A fake Twitch: the app-token endpoint answers; tests register the Helix responses they need."""
    mocked_http.post(f"{TWITCH_AUTH_URL}/token", json={"access_token": "app-token-1", "expires_in": 5000000})
    return mocked_http


@pytest.fixture
def streamer(owner):
    """The owner, with their Twitch account linked through Clerk."""
    TwitchAccount.objects.create(user=owner, twitch_user_id=BROADCASTER_ID, login="ownerstreams")
    return owner


@pytest.fixture(scope="session")
def sample_video(tmp_path_factory):
    """A real 1-second 320x180 H.264 MP4."""
    return make_video(tmp_path_factory.mktemp("videos") / "sample.mp4")
