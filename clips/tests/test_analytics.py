"""The analytics events of the clip flows: imports and media downloads, once per real outcome."""

from datetime import UTC, datetime, timedelta

import pytest

from clips import services
from clips.models import Clip
from clips.tests.factories import make_clip
from integrations.tests.fakes import (
    CLIPS_URL,
    DOWNLOADS_URL,
    helix_clip,
    helix_downloads,
    helix_page,
    serve_clerk_twitch_token,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clerk_settings", "twitch")]

CDN_URL = "https://production.assets.clips.twitchcdn.test/landscape.mp4?sig=abc"
SINCE = datetime(2026, 1, 5, tzinfo=UTC)
UNTIL = SINCE + timedelta(days=7)


# --- clips imported / clips import failed -------------------------------------------------------


@pytest.fixture
def importing(twitch_settings, streamer):
    twitch_settings.CLIP_IMPORT_WINDOW_DAYS = 7
    return services.clip_import_start(user=streamer, since=SINCE, until=UNTIL, enqueue=False)


@pytest.fixture
def run_import(twitch_client):
    return lambda clip_import: services.clip_import_run(clip_import_id=str(clip_import.pk), client=twitch_client)


def test_a_finished_import_announces_its_counts_and_window(
    mocked_http, importing, run_import, streamer, analytics_events, committed
):
    make_clip(streamer, twitch_clip_id="Known-1")
    mocked_http.get(CLIPS_URL, json=helix_page([helix_clip("Known-1"), helix_clip("New-1"), helix_clip("New-2")]))

    with committed():
        finished = run_import(importing)

    [(name, distinct_id, properties)] = analytics_events()
    assert (name, distinct_id) == ("clips imported", streamer.clerk_id)
    assert properties == {
        "import_id": str(importing.pk),
        "clips_seen": 3,
        "clips_created": 2,
        "clips_updated": 1,
        "pages": 1,
        "since": SINCE.isoformat(),
        "until": UNTIL.isoformat(),
        "window_days": 7.0,
        "duration_seconds": round((finished.finished_at - finished.started_at).total_seconds(), 3),
    }
    assert properties["duration_seconds"] >= 0


def test_a_failed_import_announces_the_failure_and_its_error(
    mocked_http, importing, run_import, streamer, analytics_events, committed
):
    mocked_http.get(CLIPS_URL, status=500, json={"error": "Internal Server Error"})

    with committed():
        failed = run_import(importing)

    assert failed.status == "failed"
    [(name, distinct_id, properties)] = analytics_events()
    assert (name, distinct_id) == ("clips import failed", streamer.clerk_id)
    assert properties["import_id"] == str(importing.pk)
    assert (properties["clips_seen"], properties["clips_created"], properties["pages"]) == (0, 0, 0)
    assert properties["window_days"] == 7.0
    assert properties["error"] == failed.error[:200]
    assert "HTTP 500" in properties["error"]


def test_running_a_finished_import_again_announces_nothing(
    mocked_http, importing, run_import, analytics_events, committed
):
    mocked_http.get(CLIPS_URL, json=helix_page([helix_clip()]))
    run_import(importing)

    with committed():
        run_import(importing)

    assert analytics_events() == []


# --- clip media fetched / clip media failed -----------------------------------------------------


def test_a_fetched_clip_video_announces_its_format(mocked_http, twitch_clip, sample_video, analytics_events, committed):
    video = sample_video.read_bytes()
    serve_clerk_twitch_token(mocked_http, twitch_clip.owner)
    mocked_http.get(DOWNLOADS_URL, json=helix_downloads(twitch_clip.twitch_clip_id, landscape=CDN_URL))
    mocked_http.get(CDN_URL, body=video, content_type="video/mp4")

    with committed():
        fetched = services.clip_media_fetch(clip_id=str(twitch_clip.pk))

    assert fetched.media_status == Clip.MediaStatus.READY
    [(name, distinct_id, properties)] = analytics_events()
    assert (name, distinct_id) == ("clip media fetched", twitch_clip.owner.clerk_id)
    assert properties == {
        "clip_id": str(twitch_clip.pk),
        "duration": fetched.media_duration,
        "width": 320,
        "height": 180,
        "size_bytes": len(video),
        "has_portrait": False,
    }
    assert properties["duration"] == pytest.approx(1.0, abs=0.1)


def test_a_token_without_the_clips_scope_announces_a_missing_scope_failure(
    mocked_http, twitch_clip, analytics_events, committed
):
    serve_clerk_twitch_token(mocked_http, twitch_clip.owner, scopes=["user:read:email"])

    with committed():
        services.clip_media_fetch(clip_id=str(twitch_clip.pk))

    assert analytics_events() == [
        ("clip media failed", twitch_clip.owner.clerk_id, {"clip_id": str(twitch_clip.pk), "reason": "missing_scope"})
    ]


def test_an_unlinked_twitch_account_announces_a_twitch_not_linked_failure(owner, analytics_events, committed):
    clip = make_clip(owner)

    with committed():
        services.clip_media_fetch(clip_id=str(clip.pk))

    assert analytics_events() == [
        ("clip media failed", owner.clerk_id, {"clip_id": str(clip.pk), "reason": "twitch_not_linked"})
    ]


def test_an_expired_download_link_announces_a_download_failure(mocked_http, twitch_clip, analytics_events, committed):
    serve_clerk_twitch_token(mocked_http, twitch_clip.owner)
    mocked_http.get(DOWNLOADS_URL, json=helix_downloads(twitch_clip.twitch_clip_id, landscape=CDN_URL))
    mocked_http.get(CDN_URL, status=403, body="expired")

    with committed():
        services.clip_media_fetch(clip_id=str(twitch_clip.pk))

    assert [(name, properties["reason"]) for name, _, properties in analytics_events()] == [
        ("clip media failed", "download_failed")
    ]
