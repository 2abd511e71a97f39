import pytest

from integrations.tests.tiktok_fake import TIKTOK_API_URL, FakeTikTok
from integrations.tests.youtube_fake import YOUTUBE_TEST_URL, FakeYouTube
from publishing.tests.factories import make_succeeded_render, serve_platform_token


@pytest.fixture
def publishing_settings(clerk_settings, media_root, work_dir):
    settings = clerk_settings
    settings.YOUTUBE_API_URL = YOUTUBE_TEST_URL
    settings.YOUTUBE_UPLOAD_CHUNK_BYTES = 256 * 1024
    settings.TIKTOK_API_URL = TIKTOK_API_URL
    settings.TIKTOK_UPLOAD_CHUNK_BYTES = 5 * 1024 * 1024
    return settings


@pytest.fixture
def youtube(mocked_http, publishing_settings, owner) -> FakeYouTube:
    """A fake YouTube, and the owner's Google connection in Clerk with the upload scope."""
    serve_platform_token(mocked_http, owner, "youtube")
    return FakeYouTube(mocked_http)


@pytest.fixture
def tiktok(mocked_http, publishing_settings, owner) -> FakeTikTok:
    """A fake TikTok, and the owner's TikTok connection in Clerk with video.publish."""
    serve_platform_token(mocked_http, owner, "tiktok")
    return FakeTikTok(mocked_http)


@pytest.fixture
def render(owner, publishing_settings):
    """The owner's succeeded render: 700 KiB, three YouTube chunks of 256 KiB."""
    return make_succeeded_render(owner)
