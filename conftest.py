"""Fixtures shared by every app's tests.

Plain builders live in each app's tests/factories.py, vendor fakes in integrations/tests/fakes.py,
and plain helpers in core/tests/helpers.py.
"""

import json

import pytest
import responses
from django.db import connection
from procrastinate.contrib.django import app as queue_app
from rest_framework.test import APIClient

from accounts.tests.factories import link_twitch, make_user
from clips.tests.factories import make_clip, make_ready_clip, make_video
from clips.tests.layout_clips import LayoutCase, make_layout_clip
from core.workdirs import work_root
from integrations import posthog
from integrations.clerk import sessions
from integrations.tests.fakes import (
    BROADCASTER_ID,
    CLERK_API_URL,
    CLERK_SECRET_KEY,
    CLERK_WEBHOOK_SECRET,
    FRONTEND_ORIGIN,
    ISSUER,
    JWKS_URL,
    KNOWN_SECRETS,
    POSTHOG_BATCH_URL,
    POSTHOG_FLAGS_URL,
    POSTHOG_HOST,
    POSTHOG_PROJECT_KEY,
    TWITCH_API_URL,
    TWITCH_AUTH_URL,
    TWITCH_CLIENT_ID,
    TWITCH_CLIENT_SECRET,
    TWITCH_TOKEN_URL,
    SigningKey,
    app_token_answer,
    jwks,
    posthog_bodies,
)
from integrations.tests.tiktok_fake import TIKTOK_API_URL, FakeTikTok
from integrations.tests.youtube_fake import YOUTUBE_TEST_URL, FakeYouTube
from integrations.twitch import TwitchClient
from publishing.tests.factories import serve_platform_token
from renders.tests.factories import make_preset

# --- Users ----------------------------------------------------------------------------------------


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def owner(db):
    """The user whose rows a test works with."""
    return make_user("owner")


@pytest.fixture
def stranger(db):
    """Another user, who must never see or change the owner's rows."""
    return make_user("stranger")


@pytest.fixture
def streamer(owner):
    """The owner, with their Twitch account linked through Clerk."""
    link_twitch(owner)
    return owner


@pytest.fixture
def staff_client(client, admin_user):
    """Django's test client, signed in to the admin as a superuser."""
    client.force_login(admin_user)
    return client


# --- The job queue --------------------------------------------------------------------------------


def _clear_queue() -> None:
    # Queue tables are not Django-managed, so transactional tests' flush leaves them alone.
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE procrastinate_jobs, procrastinate_periodic_defers CASCADE")


def _jobs_due(queues: list[str] | None) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT EXISTS (SELECT 1 FROM procrastinate_jobs WHERE status = 'todo'"
            " AND (scheduled_at IS NULL OR scheduled_at <= now())"
            " AND (%s::text[] IS NULL OR queue_name = ANY(%s::text[])))",
            [queues, queues],
        )
        return cursor.fetchone()[0]


@pytest.fixture
def empty_queue(transactional_db):
    """Empty queue tables before and after a transactional test (its flush leaves them alone)."""
    _clear_queue()
    yield
    _clear_queue()


@pytest.fixture
def run_queued_jobs(empty_queue):
    """Run every queued job to completion in this process, against the real database.

    Tests that use it need `@pytest.mark.django_db(transaction=True)`: the worker
    only sees committed jobs, and sync tasks run on their own connection.
    """

    def run(queues: list[str] | None = None) -> None:
        # As `manage.py procrastinate worker` does: the worker gets its own psycopg connector.
        # Jobs may queue further jobs (dispatch, then render): run rounds until nothing is due.
        for _ in range(20):
            with queue_app.replace_connector(queue_app.connector.get_worker_connector()) as worker_app:
                worker_app.run_worker(wait=False, queues=queues, install_signal_handlers=False, listen_notify=False)
            if not _jobs_due(queues):
                return

    return run


# --- Outbound HTTP and Clerk ------------------------------------------------------------------------


@pytest.fixture
def mocked_http():
    """Every outbound HTTP call must be registered here; an unregistered one fails the test."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture(scope="session")
def signing_key() -> SigningKey:
    return SigningKey()


@pytest.fixture
def clerk_settings(settings):
    settings.CLERK_ISSUER = ISSUER
    settings.CLERK_JWKS_URL = JWKS_URL
    settings.CLERK_JWT_KEY = ""
    settings.CLERK_AUTHORIZED_PARTIES = [FRONTEND_ORIGIN]
    settings.CLERK_API_URL = CLERK_API_URL
    settings.CLERK_SECRET_KEY = CLERK_SECRET_KEY
    settings.CLERK_WEBHOOK_SECRET = CLERK_WEBHOOK_SECRET
    return settings


@pytest.fixture
def clerk(clerk_settings, mocked_http, signing_key):
    """A fake Clerk: its JWKS serves `signing_key`; the Backend API answers what the test registers."""
    mocked_http.get(JWKS_URL, json=jwks(signing_key))
    return mocked_http


@pytest.fixture
def bearer(clerk, signing_key):
    """`bearer(user)`: request headers carrying a valid Clerk session token for that user."""

    def headers_for(user, **claims) -> dict[str, str]:
        token = signing_key.session_token(sub=user.clerk_id, **claims)
        return {"HTTP_AUTHORIZATION": f"Bearer {token}"}

    return headers_for


@pytest.fixture(autouse=True)
def fresh_token_verifier():
    """Each test starts with an empty key cache, as a new process would."""
    sessions._verifier = None
    yield
    sessions._verifier = None


# --- Twitch ---------------------------------------------------------------------------------------


@pytest.fixture
def twitch_settings(settings, tmp_path):
    settings.TWITCH_API_URL = TWITCH_API_URL
    settings.TWITCH_AUTH_URL = TWITCH_AUTH_URL
    settings.TWITCH_CLIENT_ID = TWITCH_CLIENT_ID
    settings.TWITCH_CLIENT_SECRET = TWITCH_CLIENT_SECRET
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings


@pytest.fixture
def twitch(twitch_settings, mocked_http):
    """A fake Twitch: the app-token endpoint answers; tests register the Helix responses they need."""
    mocked_http.post(TWITCH_TOKEN_URL, json=app_token_answer())
    return mocked_http


@pytest.fixture
def sleeps() -> list[float]:
    """The waits of `twitch_client`, in order."""
    return []


@pytest.fixture
def twitch_client(sleeps) -> TwitchClient:
    """A Twitch client that records its waits in `sleeps` instead of sleeping."""
    return TwitchClient(sleep=sleeps.append)


# --- YouTube and TikTok (publishing) -------------------------------------------------------------


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
def tiktok(mocked_http, publishing_settings, owner, monkeypatch) -> FakeTikTok:
    """A fake TikTok, and the owner's TikTok connection in Clerk with video.publish. Retries do not wait."""
    monkeypatch.setattr("integrations.tiktok.client._sleep", lambda seconds: None)
    serve_platform_token(mocked_http, owner, "tiktok")
    return FakeTikTok(mocked_http)


# --- PostHog --------------------------------------------------------------------------------------


@pytest.fixture
def configure_posthog(settings, mocked_http):
    """`configure_posthog(project_key, sync_mode=...)`: the process's PostHog client against the fake host.

    Its batch endpoint answers; without a key the client is disabled. Turned off after the test.
    """

    def configure(project_key: str = POSTHOG_PROJECT_KEY, *, sync_mode: bool) -> None:
        settings.POSTHOG_PROJECT_API_KEY = project_key
        settings.POSTHOG_HOST = POSTHOG_HOST
        settings.POSTHOG_SYNC_MODE = sync_mode
        mocked_http.post(POSTHOG_BATCH_URL, json={"status": 1})
        posthog.configure()

    yield configure
    settings.POSTHOG_PROJECT_API_KEY = ""
    posthog.configure()


@pytest.fixture
def posthog_enabled(configure_posthog, mocked_http):
    """PostHog configured against a fake host, sending synchronously; `posthog_enabled()` lists what arrived."""
    configure_posthog(sync_mode=True)

    def events() -> list[dict]:
        batches = [json.loads(call.request.body) for call in mocked_http.calls if call.request.url == POSTHOG_BATCH_URL]
        return [event for batch in batches for event in batch["batch"] if not event["event"].startswith("$")]

    return events


@pytest.fixture
def analytics_events(posthog_enabled, mocked_http):
    """`analytics_events()`: (name, distinct_id, our properties) of every event PostHog received, in order.

    PostHog answers flag requests with no flags, so requests evaluating flags get the defaults.
    After the test, no body sent to PostHog may hold a secret or token the fakes hand out.
    """
    mocked_http.post(POSTHOG_FLAGS_URL, json={"flags": {}})

    def received() -> list[tuple[str, str, dict]]:
        return [
            (
                event["event"],
                event["distinct_id"],
                {key: value for key, value in event["properties"].items() if not key.startswith("$")},
            )
            for event in posthog_enabled()
        ]

    yield received
    for body in posthog_bodies(mocked_http):
        leaked = [secret for secret in KNOWN_SECRETS if secret in body]
        assert not leaked, f"sent to PostHog: {leaked}"


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """`with committed():` runs the on-commit callbacks of the block, as a real commit would."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


# --- Media, clips and presets -----------------------------------------------------------------------


@pytest.fixture
def media_root(settings, tmp_path):
    """Local storage in a fresh folder, served under a public https base URL."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PUBLIC_BASE_URL = "https://api.creatorsync.test"
    return settings.MEDIA_ROOT


@pytest.fixture(scope="session")
def sample_video(tmp_path_factory):
    """A real 1-second 320x180 H.264 MP4."""
    return make_video(tmp_path_factory.mktemp("videos") / "sample.mp4")


@pytest.fixture(scope="session")
def landscape_video(tmp_path_factory):
    """A real 3-second 640x360 H.264 MP4."""
    return make_video(tmp_path_factory.mktemp("render-sources") / "landscape.mp4", width=640, height=360, seconds=3)


@pytest.fixture(scope="session")
def portrait_video(tmp_path_factory):
    """A real 3-second 360x640 H.264 MP4."""
    return make_video(tmp_path_factory.mktemp("render-sources") / "portrait.mp4", width=360, height=640, seconds=3)


@pytest.fixture
def ready_clip(owner, media_root, landscape_video, portrait_video):
    """The owner's 3-second clip, its landscape video and portrait version in storage, ready to render."""
    return make_ready_clip(owner, landscape_video, portrait=portrait_video)


@pytest.fixture
def twitch_clip(streamer):
    """A clip of the streamer's own channel, imported from Twitch without its video."""
    return make_clip(streamer, twitch_clip_id="FunnyClip-xyz", broadcaster_id=BROADCASTER_ID)


@pytest.fixture
def preset(db):
    """The 720x1280 `vertical-720p` preset."""
    return make_preset()


@pytest.fixture
def work_dir(settings, tmp_path):
    """Scratch folders of jobs in a fresh folder (not created yet): the root of core.workdirs."""
    settings.WORK_DIR = str(tmp_path / "work")
    return work_root()


@pytest.fixture(scope="session")
def facecam_clip(tmp_path_factory):
    """A Twitch-style clip (gameplay, the streamer's camera in the top-right corner) and its ground truth."""
    path = tmp_path_factory.mktemp("layout") / "facecam.mp4"
    return path, make_layout_clip(LayoutCase(name="top-right", placement="top-right", cam_width=0.28), path)
