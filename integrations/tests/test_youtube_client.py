"""The YouTube upload client against a stateful fake YouTube: chunks, resumes, interruptions and typed errors."""

import json
import random
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from integrations.tests.fakes import load_fixture
from integrations.tests.youtube_fake import VALID_TOKEN, YOUTUBE_TEST_URL, FakeYouTube
from integrations.youtube import (
    UploadState,
    YouTubeError,
    create_upload_session,
    get_video,
    query_upload,
    upload_from,
    video_metadata,
    video_url,
)

KIB_256 = 256 * 1024
SIZE = 3 * KIB_256 + KIB_256 // 2  # 3.5 chunks
VIDEOS_URL = f"{YOUTUBE_TEST_URL}/youtube/v3/videos"


@pytest.fixture
def youtube_settings(settings):
    settings.YOUTUBE_API_URL = YOUTUBE_TEST_URL
    settings.YOUTUBE_TIMEOUT_SECONDS = 5.0
    settings.YOUTUBE_UPLOAD_CHUNK_BYTES = KIB_256
    return settings


@pytest.fixture
def youtube(youtube_settings, mocked_http) -> FakeYouTube:
    return FakeYouTube(mocked_http)


@pytest.fixture
def video_file(tmp_path):
    """A file of 3.5 chunks of random bytes, so a misplaced or repeated chunk shows in what the session holds."""
    path = tmp_path / "clip.mp4"
    path.write_bytes(random.Random(7).randbytes(SIZE))  # noqa: S311 (test data, not crypto)
    return path


def metadata(title: str = "That clutch in ranked #Shorts") -> dict:
    return video_metadata(title=title, description="Clipped live on Twitch.", privacy="public", publish_at=None)


def open_session(size: int = SIZE, **kwargs) -> str:
    return create_upload_session(token=VALID_TOKEN, size=size, metadata=metadata(**kwargs), sleep=_no_sleep)


def _no_sleep(seconds: float) -> None:
    raise AssertionError(f"unexpected wait of {seconds}s")


def upload(session_url: str, path, *, start: int = 0, sleeps: list | None = None, **kwargs) -> dict:
    return upload_from(
        token=VALID_TOKEN,
        session_url=session_url,
        path=path,
        size=path.stat().st_size,
        start=start,
        sleep=sleeps.append if sleeps is not None else _no_sleep,
        **kwargs,
    )


def ranges(entries: list[dict]) -> list[str]:
    return [entry["content_range"] for entry in entries]


# --- Metadata -----------------------------------------------------------------------------------


def test_metadata_is_a_gaming_video_not_made_for_kids():
    assert video_metadata(title="GG", description="desc", privacy="unlisted", publish_at=None) == {
        "snippet": {"title": "GG", "description": "desc", "categoryId": "20"},
        "status": {"privacyStatus": "unlisted", "selfDeclaredMadeForKids": False},
    }


def test_a_scheduled_video_is_private_until_publish_at_given_in_utc():
    paris_summer = timezone(timedelta(hours=2))
    body = video_metadata(
        title="GG", description="", privacy="public", publish_at=datetime(2026, 11, 2, 20, 30, 15, tzinfo=paris_summer)
    )
    assert body["status"] == {
        "privacyStatus": "private",
        "selfDeclaredMadeForKids": False,
        "publishAt": "2026-11-02T18:30:15Z",
    }


def test_metadata_refuses_a_naive_publish_time_and_an_unknown_privacy():
    with pytest.raises(ValueError, match="timezone-aware"):
        video_metadata(title="GG", description="", privacy="public", publish_at=datetime(2026, 11, 2, 20, 30))
    with pytest.raises(ValueError, match="privacy"):
        video_metadata(title="GG", description="", privacy="friends", publish_at=None)


def test_video_url_is_the_shorts_page():
    assert video_url("yt000000001") == "https://www.youtube.com/shorts/yt000000001"


# --- Session -----------------------------------------------------------------------------------


def test_create_upload_session_sends_the_protocol_headers_and_metadata(youtube):
    scheduled = video_metadata(
        title="Ace", description="Round 12", privacy="public", publish_at=datetime(2026, 12, 1, 17, tzinfo=UTC)
    )

    session_url = create_upload_session(token=VALID_TOKEN, size=SIZE, metadata=scheduled, sleep=_no_sleep)

    assert session_url == f"{YOUTUBE_TEST_URL}/upload/youtube/v3/videos?uploadType=resumable&upload_id=1"
    [create] = youtube.requests_log
    assert create["method"] == "POST"
    query = parse_qs(urlsplit(create["url"]).query)
    assert query == {"uploadType": ["resumable"], "part": ["snippet,status"]}
    assert create["headers"]["Authorization"] == f"Bearer {VALID_TOKEN}"
    assert create["headers"]["Content-Type"] == "application/json; charset=UTF-8"
    assert create["headers"]["X-Upload-Content-Length"] == str(SIZE)
    assert create["headers"]["X-Upload-Content-Type"] == "video/mp4"
    assert create["body"] == scheduled
    assert youtube.sessions[session_url]["size"] == SIZE
    assert youtube.created_sessions == 1


def test_create_upload_session_retries_a_5xx(youtube, sleeps):
    youtube.fail_next_creates = 2

    session_url = create_upload_session(token=VALID_TOKEN, size=SIZE, metadata=metadata(), sleep=sleeps.append)

    assert session_url in youtube.sessions
    assert [entry["status"] for entry in youtube.requests_log] == [503, 503, 200]
    assert len(sleeps) == 2


def test_a_session_answer_without_location_is_an_invalid_response(youtube_settings, mocked_http):
    mocked_http.post(f"{YOUTUBE_TEST_URL}/upload/youtube/v3/videos", status=200, body="")

    with pytest.raises(YouTubeError) as raised:
        open_session()

    assert raised.value.code == "invalid_response"


def test_a_new_session_holds_nothing(youtube):
    session_url = open_session()

    assert query_upload(token=VALID_TOKEN, session_url=session_url, size=SIZE) == UploadState(received=0, video=None)
    [query] = youtube.queries()
    assert query["content_range"] == f"bytes */{SIZE}"
    assert query["status"] == 308


# --- Uploads -----------------------------------------------------------------------------------


def test_a_clean_upload_goes_in_256_kib_chunks(youtube, video_file):
    session_url = open_session()
    progress = []

    video = upload(session_url, video_file, on_progress=progress.append)

    assert ranges(youtube.chunks()) == [
        f"bytes 0-262143/{SIZE}",
        f"bytes 262144-524287/{SIZE}",
        f"bytes 524288-786431/{SIZE}",
        f"bytes 786432-917503/{SIZE}",
    ]
    sizes = [entry["bytes"] for entry in youtube.chunks()]
    assert sizes == [KIB_256, KIB_256, KIB_256, KIB_256 // 2]
    assert all(size % KIB_256 == 0 for size in sizes[:-1])
    assert [entry["status"] for entry in youtube.chunks()] == [308, 308, 308, 200]
    assert progress == [262144, 524288, 786432]
    assert bytes(youtube.sessions[session_url]["received"]) == video_file.read_bytes()
    assert list(youtube.videos) == [video["id"]]
    assert video["snippet"]["title"] == "That clutch in ranked #Shorts"
    assert video["status"]["privacyStatus"] == "public"
    assert youtube.queries() == []


def test_after_a_restart_it_resumes_from_the_range_the_session_reports(youtube, video_file):
    session_url = open_session()

    class Crash(Exception):
        pass

    def crash_after_first_chunk(received: int) -> None:
        raise Crash(received)

    with pytest.raises(Crash):
        upload(session_url, video_file, on_progress=crash_after_first_chunk)
    # A new process knows only the stored session URI.
    state = query_upload(token=VALID_TOKEN, session_url=session_url, size=SIZE)
    assert state == UploadState(received=KIB_256, video=None)

    video = upload(session_url, video_file, start=state.received)

    assert ranges(youtube.chunks()) == [
        f"bytes 0-262143/{SIZE}",
        f"bytes 262144-524287/{SIZE}",
        f"bytes 524288-786431/{SIZE}",
        f"bytes 786432-917503/{SIZE}",
    ]
    assert bytes(youtube.sessions[session_url]["received"]) == video_file.read_bytes()
    assert list(youtube.videos) == [video["id"]]


def test_it_continues_from_what_the_server_kept_not_from_what_it_sent(youtube, video_file):
    session_url = open_session()
    youtube.accept_only_bytes = 100_000
    progress = []

    video = upload(session_url, video_file, on_progress=progress.append)

    assert ranges(youtube.chunks()) == [
        f"bytes 0-262143/{SIZE}",
        f"bytes 100000-362143/{SIZE}",
        f"bytes 362144-624287/{SIZE}",
        f"bytes 624288-886431/{SIZE}",
        f"bytes 886432-917503/{SIZE}",
    ]
    assert progress == [100_000, 362_144, 624_288, 886_432]
    assert bytes(youtube.sessions[session_url]["received"]) == video_file.read_bytes()
    assert video["id"] in youtube.videos


def test_a_start_the_server_disagrees_with_is_corrected_by_its_range(youtube, video_file, sleeps):
    session_url = open_session()

    upload(session_url, video_file, start=2 * KIB_256, sleeps=sleeps)

    chunks = youtube.chunks()
    assert ranges(chunks)[:2] == [f"bytes 524288-786431/{SIZE}", f"bytes 0-262143/{SIZE}"]
    assert chunks[0]["status"] == 308  # where the session stands: nothing yet
    assert bytes(youtube.sessions[session_url]["received"]) == video_file.read_bytes()
    assert len(youtube.videos) == 1


def test_a_5xx_on_a_chunk_is_followed_by_a_status_query_not_a_blind_resend(youtube, video_file, sleeps):
    session_url = open_session()
    upload_first_chunk_only(youtube, session_url, video_file)
    youtube.requests_log.clear()
    youtube.fail_next_chunks = 1

    video = upload(session_url, video_file, start=KIB_256, sleeps=sleeps)

    assert [(entry["kind"], entry["content_range"], entry["status"]) for entry in youtube.requests_log] == [
        ("chunk", f"bytes 262144-524287/{SIZE}", 503),
        ("query", f"bytes */{SIZE}", 308),
        ("chunk", f"bytes 262144-524287/{SIZE}", 308),
        ("chunk", f"bytes 524288-786431/{SIZE}", 308),
        ("chunk", f"bytes 786432-917503/{SIZE}", 200),
    ]
    assert len(sleeps) == 1
    assert 0.8 <= sleeps[0] <= 1.2
    assert bytes(youtube.sessions[session_url]["received"]) == video_file.read_bytes()
    assert list(youtube.videos) == [video["id"]]


def upload_first_chunk_only(youtube: FakeYouTube, session_url: str, path) -> None:
    data = path.read_bytes()[:KIB_256]
    response = requests.put(
        session_url,
        data=data,
        headers={"Authorization": f"Bearer {VALID_TOKEN}", "Content-Range": f"bytes 0-{KIB_256 - 1}/{SIZE}"},
        timeout=5,
        allow_redirects=False,
    )
    assert response.status_code == 308
    assert response.headers["Range"] == f"bytes=0-{KIB_256 - 1}"


def test_repeated_5xx_give_up_as_unavailable_after_max_interruptions(youtube, video_file, sleeps):
    session_url = open_session()
    youtube.fail_next_chunks = 10

    with pytest.raises(YouTubeError) as raised:
        upload(session_url, video_file, sleeps=sleeps, max_interruptions=2)

    assert raised.value.code == "unavailable"
    assert raised.value.status == 503
    assert raised.value.reason == "backendError"
    assert [entry["kind"] for entry in youtube.requests_log[1:]] == ["chunk", "query", "chunk", "query", "chunk"]
    assert len(sleeps) == 2
    assert youtube.sessions[session_url]["received"] == bytearray()


def test_repeated_network_errors_give_up_as_unreachable(youtube, video_file, sleeps):
    session_url = open_session()
    youtube.drop_next_chunks = 10

    with pytest.raises(YouTubeError) as raised:
        upload(session_url, video_file, sleeps=sleeps, max_interruptions=1)

    assert raised.value.code == "unreachable"
    assert len(youtube.chunks()) == 2
    assert youtube.videos == {}


def test_a_lost_final_response_returns_the_video_from_the_status_query(youtube, video_file, sleeps):
    session_url = open_session()
    youtube.lose_final_response = True

    video = upload(session_url, video_file, sleeps=sleeps)

    assert [entry["status"] for entry in youtube.chunks()] == [308, 308, 308, "dropped"]
    [query] = youtube.queries()
    assert query["status"] == 200
    assert list(youtube.videos) == [video["id"]]
    assert video == youtube.videos[video["id"]]


def test_after_a_crash_on_the_final_chunk_the_query_finds_the_one_video(youtube, video_file, sleeps):
    session_url = open_session()
    youtube.lose_final_response = True
    with pytest.raises(YouTubeError) as raised:
        upload(session_url, video_file, sleeps=sleeps, max_interruptions=0)
    assert raised.value.code == "unreachable"

    state = query_upload(token=VALID_TOKEN, session_url=session_url, size=SIZE)
    # Even a resend of the whole file from the start gets the same video back.
    again = upload(session_url, video_file)

    assert state.received == SIZE
    assert state.video["id"] == again["id"]
    assert list(youtube.videos) == [state.video["id"]]


def test_an_expired_session_is_session_expired(youtube, video_file):
    session_url = open_session()
    youtube.expire_sessions()

    with pytest.raises(YouTubeError) as queried:
        query_upload(token=VALID_TOKEN, session_url=session_url, size=SIZE)
    with pytest.raises(YouTubeError) as uploaded:
        upload(session_url, video_file)

    assert (queried.value.code, queried.value.status) == ("session_expired", 404)
    assert (uploaded.value.code, uploaded.value.status) == ("session_expired", 404)


def test_a_file_of_another_size_than_the_session_is_refused(youtube, video_file):
    session_url = open_session()

    with pytest.raises(ValueError, match="not the session's"):
        upload_from(token=VALID_TOKEN, session_url=session_url, path=video_file, size=SIZE + 1, start=0)


# --- Typed errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("knob", "code", "status", "reason"),
    [
        ("quota_exceeded", "quota_exceeded", 403, "quotaExceeded"),
        ("upload_limit_exceeded", "upload_limit_exceeded", 400, "uploadLimitExceeded"),
        ("refuse_token", "unauthorized", 401, "authError"),
    ],
)
def test_refusals_of_a_session_map_to_typed_errors(youtube, knob, code, status, reason):
    setattr(youtube, knob, True)

    with pytest.raises(YouTubeError) as raised:
        open_session()

    assert (raised.value.code, raised.value.status, raised.value.reason) == (code, status, reason)
    assert youtube.sessions == {}
    assert len(youtube.requests_log) == 1  # refusals are final, not retried


def test_a_wrong_token_is_unauthorized_and_never_in_the_message(youtube, video_file):
    session_url = open_session()
    youtube.valid_token = "ya29.another-token"

    with pytest.raises(YouTubeError) as raised:
        upload(session_url, video_file)

    assert raised.value.code == "unauthorized"
    assert raised.value.reason == "authError"
    assert VALID_TOKEN not in str(raised.value)
    assert len(youtube.chunks()) == 1


def test_an_invalid_title_is_a_bad_request(youtube):
    with pytest.raises(YouTubeError) as raised:
        open_session(title="<script>")

    assert (raised.value.code, raised.value.status, raised.value.reason) == ("bad_request", 400, "invalidTitle")


def test_a_403_rate_limit_is_retried_then_rate_limited(youtube_settings, mocked_http, sleeps):
    mocked_http.get(VIDEOS_URL, status=403, json=load_fixture("youtube/error.userRateLimitExceeded.json"))

    with pytest.raises(YouTubeError) as raised:
        get_video(token=VALID_TOKEN, video_id="yt000000001", sleep=sleeps.append)

    assert (raised.value.code, raised.value.reason) == ("rate_limited", "userRateLimitExceeded")
    assert len(mocked_http.calls) == 4
    assert len(sleeps) == 3


def test_a_403_insufficient_permissions_is_unauthorized(youtube_settings, mocked_http):
    body = load_fixture("youtube/error.quotaExceeded.json")
    body["error"]["errors"][0].update(reason="insufficientPermissions", domain="global")
    mocked_http.get(VIDEOS_URL, status=403, json=body)

    with pytest.raises(YouTubeError) as raised:
        get_video(token=VALID_TOKEN, video_id="yt000000001", sleep=_no_sleep)

    assert (raised.value.code, raised.value.reason) == ("unauthorized", "insufficientPermissions")


# --- Processing --------------------------------------------------------------------------------


def uploaded_video(youtube: FakeYouTube, video_file) -> str:
    return upload(open_session(), video_file)["id"]


def test_get_video_asks_for_status_and_processing_details(youtube, video_file):
    video_id = uploaded_video(youtube, video_file)

    video = get_video(token=VALID_TOKEN, video_id=video_id)

    [listing] = [entry for entry in youtube.requests_log if entry["kind"] == "list"]
    assert parse_qs(urlsplit(listing["url"]).query) == {"part": ["status,processingDetails"], "id": [video_id]}
    assert video["id"] == video_id
    assert video["status"]["uploadStatus"] == "uploaded"
    assert video["processingDetails"]["processingStatus"] == "processing"


def test_get_video_reports_a_processed_video(youtube, video_file):
    video_id = uploaded_video(youtube, video_file)
    youtube.set_upload_status(video_id, "processed")

    video = get_video(token=VALID_TOKEN, video_id=video_id)

    assert video["status"]["uploadStatus"] == "processed"
    assert video["status"]["privacyStatus"] == "public"
    assert video["processingDetails"]["processingStatus"] == "succeeded"


def test_get_video_reports_a_rejection_and_its_reason(youtube, video_file):
    video_id = uploaded_video(youtube, video_file)
    youtube.set_upload_status(video_id, "rejected", reason="copyright")

    video = get_video(token=VALID_TOKEN, video_id=video_id)

    assert video["status"]["uploadStatus"] == "rejected"
    assert video["status"]["rejectionReason"] == "copyright"


def test_get_video_is_none_when_youtube_lists_nothing(youtube):
    assert get_video(token=VALID_TOKEN, video_id="yt999999999") is None


def test_the_fixtures_are_googles_shapes():
    quota = load_fixture("youtube/error.quotaExceeded.json")["error"]
    assert (quota["code"], quota["errors"][0]["domain"], quota["errors"][0]["reason"]) == (
        403,
        "youtube.quota",
        "quotaExceeded",
    )
    listing = load_fixture("youtube/videos.list.processed.json")
    assert listing["kind"] == "youtube#videoListResponse"
    assert json.dumps(listing["items"][0]["status"]).count("processed") == 1


# --- The fake's own rules ----------------------------------------------------------------------


def test_the_fake_refuses_a_non_final_chunk_that_is_not_a_multiple_of_256_kib(youtube, video_file):
    session_url = open_session()

    response = requests.put(
        session_url,
        data=video_file.read_bytes()[:1000],
        headers={"Authorization": f"Bearer {VALID_TOKEN}", "Content-Range": f"bytes 0-999/{SIZE}"},
        timeout=5,
        allow_redirects=False,
    )

    assert response.status_code == 400
    assert youtube.sessions[session_url]["received"] == bytearray()
