"""Downloading a clip's video from Twitch: Clerk's user token, Helix download links, the CDN, real probing."""

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from procrastinate.contrib.django.models import ProcrastinateJob

from clips import services
from clips.models import Clip
from clips.tests.factories import LANDSCAPE_URL, PORTRAIT_URL, make_clip, make_video, serve_clip_downloads
from integrations.tests.fakes import (
    BROADCASTER_ID,
    DOWNLOADS_URL,
    TWITCH_USER_TOKEN,
    clerk_oauth_token_url,
    serve_clerk_twitch_token,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clerk_settings", "twitch")]


@pytest.fixture(scope="module")
def twitch_video(tmp_path_factory) -> bytes:
    """The bytes of a real 2-second 640x360 MP4, as the Twitch CDN would serve them."""
    return make_video(tmp_path_factory.mktemp("cdn") / "clip.mp4", width=640, height=360, seconds=2).read_bytes()


def calls_to(mocked_http, url: str) -> list:
    return [call for call in mocked_http.calls if call.request.url.split("?")[0] == url.split("?")[0]]


def stored_files(settings) -> list[Path]:
    return [path for path in Path(settings.MEDIA_ROOT).rglob("*") if path.is_file()]


def fetch(clip: Clip) -> Clip:
    return services.clip_media_fetch(clip_id=str(clip.pk))


# --- Success -------------------------------------------------------------------------------------


def test_a_clip_is_downloaded_probed_and_stored(mocked_http, twitch_clip, twitch_video, settings):
    serve_clip_downloads(mocked_http, twitch_clip, landscape=twitch_video, portrait=twitch_video)
    fetched = fetch(twitch_clip)
    assert fetched.media_status == Clip.MediaStatus.READY
    assert fetched.media_error == ""
    assert (fetched.media_width, fetched.media_height) == (640, 360)
    assert fetched.media_duration == pytest.approx(2.0, abs=0.1)
    assert fetched.media_size == len(twitch_video)
    with fetched.media_file.open("rb") as stored:
        assert stored.read() == twitch_video
    assert sorted(stored_files(settings)) == sorted(
        Path(settings.MEDIA_ROOT) / name for name in (fetched.media_file.name, fetched.portrait_file.name)
    )


def test_the_landscape_file_is_preferred_and_the_portrait_version_kept_for_the_portrait_layout(
    mocked_http, twitch_clip, twitch_video
):
    serve_clip_downloads(mocked_http, twitch_clip, landscape=twitch_video, portrait=twitch_video)
    fetched = fetch(twitch_clip)
    assert fetched.has_portrait is True
    assert len(calls_to(mocked_http, LANDSCAPE_URL)) == 1
    assert len(calls_to(mocked_http, PORTRAIT_URL)) == 1
    twitch_clip.refresh_from_db()
    assert twitch_clip.has_portrait is True
    assert twitch_clip.media_file.name.endswith(f"{twitch_clip.twitch_clip_id}.mp4")
    assert twitch_clip.portrait_file.name.endswith(f"{twitch_clip.twitch_clip_id}-portrait.mp4")


def test_a_portrait_version_that_fails_to_download_does_not_fail_the_clip(mocked_http, twitch_clip, twitch_video):
    serve_clip_downloads(mocked_http, twitch_clip, landscape=twitch_video, portrait=403)
    fetched = fetch(twitch_clip)
    assert fetched.media_status == Clip.MediaStatus.READY
    assert fetched.has_portrait is False
    assert not fetched.portrait_file


def test_without_a_portrait_version_has_portrait_stays_false(mocked_http, twitch_clip, twitch_video):
    serve_clip_downloads(mocked_http, twitch_clip, landscape=twitch_video)
    assert fetch(twitch_clip).has_portrait is False


def test_only_a_portrait_link_is_used_when_there_is_no_landscape_one(mocked_http, twitch_clip, twitch_video):
    serve_clip_downloads(mocked_http, twitch_clip, landscape=None, portrait=twitch_video)
    fetched = fetch(twitch_clip)
    assert fetched.media_status == Clip.MediaStatus.READY
    assert len(calls_to(mocked_http, PORTRAIT_URL)) == 1


def test_helix_is_called_with_the_streamers_own_token_and_our_client_id(mocked_http, twitch_clip, twitch_video):
    serve_clip_downloads(mocked_http, twitch_clip, landscape=twitch_video)
    fetch(twitch_clip)
    [clerk_call] = calls_to(mocked_http, clerk_oauth_token_url(twitch_clip.owner))
    assert clerk_call.request.headers["Authorization"] == "Bearer sk_test_creatorsync"
    [helix_call] = calls_to(mocked_http, DOWNLOADS_URL)
    assert helix_call.request.headers["Authorization"] == f"Bearer {TWITCH_USER_TOKEN}"
    assert helix_call.request.headers["Client-Id"] == "twitch-client-id"
    query = parse_qs(urlsplit(helix_call.request.url).query)
    assert query == {"editor_id": [BROADCASTER_ID], "broadcaster_id": [BROADCASTER_ID], "clip_id": ["FunnyClip-xyz"]}


def test_an_editor_downloads_another_channels_clip_as_editor(mocked_http, streamer, twitch_video):
    twitch_clip = make_clip(streamer, twitch_clip_id="OtherChannelClip", broadcaster_id="777")
    serve_clip_downloads(mocked_http, twitch_clip, landscape=twitch_video)
    assert fetch(twitch_clip).media_status == Clip.MediaStatus.READY
    query = parse_qs(urlsplit(calls_to(mocked_http, DOWNLOADS_URL)[0].request.url).query)
    assert (query["editor_id"], query["broadcaster_id"]) == ([BROADCASTER_ID], ["777"])


def test_the_editor_scope_is_enough(mocked_http, twitch_clip, twitch_video):
    serve_clip_downloads(mocked_http, twitch_clip, landscape=twitch_video)
    mocked_http.replace(
        "GET",
        clerk_oauth_token_url(twitch_clip.owner),
        json=[{"token": TWITCH_USER_TOKEN, "scopes": ["editor:manage:clips"]}],
    )
    assert fetch(twitch_clip).media_status == Clip.MediaStatus.READY


def test_a_refetch_replaces_the_old_file(mocked_http, twitch_clip, twitch_video, settings):
    serve_clip_downloads(mocked_http, twitch_clip, landscape=twitch_video)
    first = fetch(twitch_clip).media_file.name
    second = fetch(twitch_clip).media_file.name
    assert second != first
    assert not twitch_clip.media_file.storage.exists(first)
    assert stored_files(settings) == [Path(settings.MEDIA_ROOT) / second]


# --- Failures become a clear media_error, never an exception -------------------------------------


def assert_failed(clip: Clip, *words: str) -> None:
    clip.refresh_from_db()
    assert clip.media_status == Clip.MediaStatus.FAILED
    for word in words:
        assert word in clip.media_error


def test_a_clip_without_download_links_fails_clearly(mocked_http, twitch_clip, settings):
    serve_clip_downloads(mocked_http, twitch_clip, landscape=None)
    fetch(twitch_clip)
    assert_failed(twitch_clip, "no downloadable file")
    assert stored_files(settings) == []


def test_a_helix_403_means_not_the_broadcaster_or_an_editor(mocked_http, twitch_clip):
    serve_clerk_twitch_token(mocked_http, twitch_clip.owner)
    mocked_http.get(DOWNLOADS_URL, status=403, json={"error": "Forbidden", "status": 403, "message": "not an editor"})
    fetch(twitch_clip)
    assert_failed(twitch_clip, "not the broadcaster or an editor")


def test_a_helix_401_says_the_twitch_authorization_was_rejected(mocked_http, twitch_clip):
    serve_clerk_twitch_token(mocked_http, twitch_clip.owner)
    mocked_http.get(
        DOWNLOADS_URL, status=401, json={"error": "Unauthorized", "status": 401, "message": "Invalid token"}
    )
    fetch(twitch_clip)
    assert_failed(twitch_clip, "Twitch download failed", "authorization was rejected", "Invalid token")


def test_helix_returning_no_download_fails_clearly(mocked_http, twitch_clip):
    serve_clerk_twitch_token(mocked_http, twitch_clip.owner)
    mocked_http.get(DOWNLOADS_URL, json={"data": []})
    fetch(twitch_clip)
    assert_failed(twitch_clip, "no download for this clip")


def test_a_token_without_the_clips_scope_asks_to_reconnect_without_calling_helix(mocked_http, twitch_clip):
    serve_clerk_twitch_token(mocked_http, twitch_clip.owner, scopes=["user:read:email"])
    fetch(twitch_clip)
    assert_failed(twitch_clip, "reconnect Twitch", "channel:manage:clips")
    assert calls_to(mocked_http, DOWNLOADS_URL) == []


@pytest.mark.parametrize(
    ("status", "body", "code"),
    [
        (404, {"errors": [{"code": "resource_not_found", "message": "not found"}]}, "resource_not_found"),
        (400, {"errors": [{"code": "oauth_missing_refresh_token", "message": "x"}]}, "oauth_missing_refresh_token"),
        (200, [], "no_oauth_connection"),
    ],
)
def test_no_token_from_clerk_fails_clearly(mocked_http, twitch_clip, status, body, code):
    mocked_http.get(clerk_oauth_token_url(twitch_clip.owner), status=status, json=body)
    fetch(twitch_clip)
    assert_failed(twitch_clip, "Could not get your Twitch authorization from Clerk", code, "Reconnect Twitch")
    assert calls_to(mocked_http, DOWNLOADS_URL) == []


def test_an_unlinked_twitch_account_fails_clearly(mocked_http, owner):
    twitch_clip = make_clip(owner)
    fetch(twitch_clip)
    assert_failed(twitch_clip, "Link your Twitch account")
    assert len(mocked_http.calls) == 0


def test_an_oversize_content_length_fails_without_storing_anything(mocked_http, twitch_clip, twitch_video, settings):
    settings.CLIP_MAX_DOWNLOAD_BYTES = 1000
    serve_clip_downloads(mocked_http, twitch_clip, landscape=twitch_video)
    mocked_http.replace(
        "GET", LANDSCAPE_URL, body=twitch_video, content_type="video/mp4", auto_calculate_content_length=True
    )
    fetch(twitch_clip)
    assert calls_to(mocked_http, LANDSCAPE_URL)[0].response.headers["Content-Length"] == str(len(twitch_video))
    assert_failed(twitch_clip, "larger than the", "limit")
    assert stored_files(settings) == []


def test_an_oversize_stream_without_content_length_is_cut_off(mocked_http, twitch_clip, twitch_video, settings):
    settings.CLIP_MAX_DOWNLOAD_BYTES = 1000
    serve_clip_downloads(mocked_http, twitch_clip, landscape=twitch_video)
    fetch(twitch_clip)
    assert "Content-Length" not in calls_to(mocked_http, LANDSCAPE_URL)[0].response.headers
    assert_failed(twitch_clip, "larger than the", "limit")
    assert stored_files(settings) == []


@pytest.mark.parametrize("status", [403, 410])
def test_an_expired_download_link_asks_to_try_again(mocked_http, twitch_clip, settings, status):
    serve_clip_downloads(mocked_http, twitch_clip, landscape=status)
    mocked_http.replace("GET", LANDSCAPE_URL, status=status, body="<Error><Code>AccessDenied</Code></Error>")
    fetch(twitch_clip)
    assert_failed(twitch_clip, f"HTTP {status}", "expired", "Try again")
    assert stored_files(settings) == []


def test_a_download_that_is_not_a_video_fails_clearly(mocked_http, twitch_clip, settings):
    serve_clip_downloads(
        mocked_http, twitch_clip, landscape=b"<html><body>Sorry, this clip is unavailable</body></html>"
    )
    fetch(twitch_clip)
    assert_failed(twitch_clip, "not a video")
    assert stored_files(settings) == []


def test_a_failed_refetch_marks_the_clip_failed(mocked_http, twitch_clip, twitch_video):
    serve_clip_downloads(mocked_http, twitch_clip, landscape=twitch_video)
    fetch(twitch_clip)
    mocked_http.replace("GET", LANDSCAPE_URL, status=403)
    fetch(twitch_clip)
    assert_failed(twitch_clip, "HTTP 403")


def test_a_garbled_helix_answer_fails_clearly_instead_of_raising(mocked_http, twitch_clip):
    Clip.objects.filter(pk=twitch_clip.pk).update(media_status=Clip.MediaStatus.DOWNLOADING)
    serve_clerk_twitch_token(mocked_http, twitch_clip.owner)
    mocked_http.get(DOWNLOADS_URL, body="<html>502 Bad Gateway</html>", content_type="text/html")
    fetch(twitch_clip)
    assert_failed(twitch_clip)


def test_a_garbled_clerk_answer_fails_clearly_instead_of_raising(mocked_http, twitch_clip):
    Clip.objects.filter(pk=twitch_clip.pk).update(media_status=Clip.MediaStatus.DOWNLOADING)
    mocked_http.get(
        clerk_oauth_token_url(twitch_clip.owner), body="<html>502 Bad Gateway</html>", content_type="text/html"
    )
    fetch(twitch_clip)
    assert_failed(twitch_clip)


# --- Through the queue ---------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_requested_download_runs_on_the_queue(mocked_http, twitch_clip, twitch_video, run_queued_jobs):
    serve_clip_downloads(mocked_http, twitch_clip, landscape=twitch_video)
    assert services.clip_media_fetch_request(clip=twitch_clip).media_status == Clip.MediaStatus.DOWNLOADING
    run_queued_jobs()
    twitch_clip.refresh_from_db()
    assert twitch_clip.media_status == Clip.MediaStatus.READY
    assert (twitch_clip.media_width, twitch_clip.media_height) == (640, 360)
    assert ProcrastinateJob.objects.get(task_name="clips.tasks.fetch_clip_media").status == "succeeded"
