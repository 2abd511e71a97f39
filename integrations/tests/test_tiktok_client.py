"""The TikTok Content Posting client (Direct Post, FILE_UPLOAD), against the stateful fake and recorded shapes."""

import json
import logging
import os

import pytest
import requests

from integrations.tests.fakes import load_fixture
from integrations.tests.tiktok_fake import (
    TIKTOK_API_URL,
    TIKTOK_UPLOAD_URL,
    VALID_TOKEN,
    FakeTikTok,
    chunk_rules_problem,
)
from integrations.tiktok import (
    PRIVACY_LEVELS,
    ChunkPlan,
    TikTokError,
    chunk_plan,
    fetch_status,
    init_direct_post,
    post_url,
    query_creator_info,
    upload_chunks,
)
from integrations.tiktok import client as tiktok_client

MB = 1024 * 1024
GB = 1024 * MB
CREATOR_INFO_URL = f"{TIKTOK_API_URL}/v2/post/publish/creator_info/query/"
INIT_URL = f"{TIKTOK_API_URL}/v2/post/publish/video/init/"
STATUS_URL = f"{TIKTOK_API_URL}/v2/post/publish/status/fetch/"

POST_INFO = {
    "title": "Clutch 1v4 on Inferno #cs2 #clips",
    "privacy_level": "PUBLIC_TO_EVERYONE",
    "disable_comment": False,
    "disable_duet": False,
    "disable_stitch": True,
    "video_cover_timestamp_ms": 1000,
}


@pytest.fixture(autouse=True)
def tiktok_settings(settings):
    settings.TIKTOK_API_URL = TIKTOK_API_URL
    settings.TIKTOK_TIMEOUT_SECONDS = 5.0
    settings.TIKTOK_UPLOAD_CHUNK_BYTES = 5 * MB
    return settings


@pytest.fixture(autouse=True)
def sleeps(monkeypatch) -> list[float]:
    """The client's retry waits, recorded instead of slept."""
    waits: list[float] = []
    monkeypatch.setattr(tiktok_client, "_sleep", waits.append)
    return waits


@pytest.fixture
def tiktok(mocked_http) -> FakeTikTok:
    return FakeTikTok(mocked_http)


def video_file(tmp_path, size: int):
    path = tmp_path / "clip.mp4"
    path.write_bytes(os.urandom(size))
    return path


def puts(mocked_http) -> list:
    return [call for call in mocked_http.calls if call.request.method == "PUT"]


def calls_to(mocked_http, url: str) -> list:
    return [call for call in mocked_http.calls if call.request.url == url]


def start_post(tmp_path, *, size: int, post_info: dict = POST_INFO):
    """A video file, its plan and an initialised post: (path, plan, init data)."""
    path = video_file(tmp_path, size)
    plan = chunk_plan(size)
    return path, plan, init_direct_post(token=VALID_TOKEN, post_info=post_info, video_size=size, plan=plan)


def upload(path, plan, init: dict, **kwargs) -> None:
    upload_chunks(upload_url=init["upload_url"], path=path, video_size=path.stat().st_size, plan=plan, **kwargs)


# --- Chunk plans --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "preferred", "expected"),
    [
        (4 * MB, None, ChunkPlan(4 * MB, 1)),  # under 5 MB: one chunk, the whole file
        (1, None, ChunkPlan(1, 1)),
        (5 * MB - 1, None, ChunkPlan(5 * MB - 1, 1)),
        (5 * MB, None, ChunkPlan(5 * MB, 1)),  # exactly 5 MiB
        (12 * MB, None, ChunkPlan(5 * MB, 2)),  # the last chunk takes the remainder: 7 MiB
        (30 * MB, None, ChunkPlan(5 * MB, 6)),  # the settings' chunk size
        (30 * MB, 10 * MB, ChunkPlan(10 * MB, 3)),
        (7 * MB, 10 * MB, ChunkPlan(7 * MB, 1)),  # smaller than a chunk: one chunk of the whole file
        (12 * MB, 1 * MB, ChunkPlan(5 * MB, 2)),  # a preferred size under TikTok's minimum is raised
        (200 * MB, 100 * MB, ChunkPlan(64 * MB, 3)),  # ... and one over its maximum lowered
        (100 * MB, 64 * MB, ChunkPlan(50 * MB, 2)),  # over 64 MB never goes in one chunk
        (20 * GB, None, ChunkPlan(20 * GB // 1000, 1000)),  # 4096 chunks of 5 MiB would be too many
    ],
)
def test_chunk_plan_follows_tiktoks_rules(size, preferred, expected):
    plan = chunk_plan(size, preferred_chunk=preferred)

    assert plan == expected
    assert chunk_rules_problem(size, plan.chunk_size, plan.total_chunk_count) is None


def test_the_last_chunk_takes_the_remainder():
    plan = chunk_plan(12 * MB)

    assert plan.byte_range(0, 12 * MB) == (0, 5 * MB - 1)
    assert plan.byte_range(1, 12 * MB) == (5 * MB, 12 * MB - 1)  # 7 MiB


@pytest.mark.parametrize("size", [5 * MB + 1, 64 * MB + 1, 128 * MB + 7, 999 * 5 * MB + 3, 4 * GB, 60 * GB])
@pytest.mark.parametrize("preferred", [None, 5 * MB, 10 * MB + 3, 64 * MB])
def test_every_plan_passes_tiktoks_checks(size, preferred):
    plan = chunk_plan(size, preferred_chunk=preferred)

    assert chunk_rules_problem(size, plan.chunk_size, plan.total_chunk_count) is None


@pytest.mark.parametrize("size", [0, -1, 70 * GB])
def test_chunk_plan_refuses_what_tiktok_cannot_take(size):
    with pytest.raises(ValueError, match="video"):
        chunk_plan(size)


# --- Creator info -------------------------------------------------------------------------------


def test_creator_info_is_read_from_tiktoks_answer(mocked_http):
    mocked_http.post(CREATOR_INFO_URL, json=load_fixture("tiktok/creator_info.json"))

    info = query_creator_info(token=VALID_TOKEN)

    assert info["creator_username"] == "pixelpioneer"
    assert info["creator_nickname"] == "Pixel Pioneer"
    assert info["privacy_level_options"] == list(PRIVACY_LEVELS)
    assert (info["comment_disabled"], info["duet_disabled"], info["stitch_disabled"]) == (False, False, True)
    assert info["max_video_post_duration_sec"] == 600
    sent = mocked_http.calls[0].request
    assert sent.headers["Authorization"] == f"Bearer {VALID_TOKEN}"
    assert sent.headers["Content-Type"] == "application/json; charset=UTF-8"


def test_an_unaudited_app_may_only_post_privately(mocked_http):
    mocked_http.post(CREATOR_INFO_URL, json=load_fixture("tiktok/creator_info.unaudited.json"))

    assert query_creator_info(token=VALID_TOKEN)["privacy_level_options"] == ["SELF_ONLY"]


def test_the_fake_lists_the_creators_privacy_options(tiktok):
    tiktok.privacy_options = ["SELF_ONLY"]

    assert query_creator_info(token=VALID_TOKEN)["privacy_level_options"] == ["SELF_ONLY"]


def test_a_refused_token_is_access_token_invalid(tiktok, caplog):
    tiktok.refuse_token = True

    with caplog.at_level(logging.DEBUG), pytest.raises(TikTokError) as raised:
        query_creator_info(token=VALID_TOKEN)

    assert raised.value.code == "access_token_invalid"
    assert raised.value.status == 401
    assert raised.value.log_id
    assert VALID_TOKEN not in str(raised.value)
    assert VALID_TOKEN not in caplog.text


def test_a_bare_429_is_rate_limit_exceeded_after_a_few_short_waits(mocked_http, sleeps):
    mocked_http.post(CREATOR_INFO_URL, status=429, body="")

    with pytest.raises(TikTokError) as raised:
        query_creator_info(token=VALID_TOKEN)

    assert (raised.value.code, raised.value.status) == ("rate_limit_exceeded", 429)
    assert len(calls_to(mocked_http, CREATOR_INFO_URL)) == 4
    assert len(sleeps) == 3
    assert sum(sleeps) < 10


def test_another_users_token_is_refused_everywhere(tiktok, tmp_path):
    _, _, init = start_post(tmp_path, size=MB)

    with pytest.raises(TikTokError) as raised:
        fetch_status(token="act.someone-else", publish_id=init["publish_id"])

    assert raised.value.code == "access_token_invalid"


# --- Init -------------------------------------------------------------------------------------------


def test_init_sends_post_info_and_source_info(tiktok, mocked_http, tmp_path):
    _, _, init = start_post(tmp_path, size=12 * MB)

    assert tiktok.inits == [
        {
            "post_info": POST_INFO,
            "source_info": {
                "source": "FILE_UPLOAD",
                "video_size": 12 * MB,
                "chunk_size": 5 * MB,
                "total_chunk_count": 2,
            },
        }
    ]
    assert init["publish_id"] in tiktok.posts
    assert init["upload_url"].startswith(f"{TIKTOK_UPLOAD_URL}/upload/?upload_id=")
    sent = calls_to(mocked_http, INIT_URL)[0].request
    assert sent.headers["Authorization"] == f"Bearer {VALID_TOKEN}"
    assert sent.headers["Content-Type"] == "application/json; charset=UTF-8"


def test_init_returns_the_recorded_shape(mocked_http):
    recorded = load_fixture("tiktok/video_init.json")
    mocked_http.post(INIT_URL, json=recorded)

    init = init_direct_post(token=VALID_TOKEN, post_info=POST_INFO, video_size=MB, plan=chunk_plan(MB))

    assert init == recorded["data"]


def test_a_rate_limited_init_fails_at_once_without_retrying(tiktok, sleeps, tmp_path):
    tiktok.rate_limit_inits = 1

    with pytest.raises(TikTokError) as raised:
        start_post(tmp_path, size=MB)

    assert raised.value.code == "rate_limit_exceeded"
    assert raised.value.status == 429
    assert raised.value.log_id
    assert len(tiktok.inits) == 1
    assert sleeps == []
    assert tiktok.posts == {}


@pytest.mark.parametrize("answer", [{"status": 500, "json": {"error": {"code": "internal_error"}}}, {"status": 503}])
def test_an_init_is_never_retried_on_an_outage(mocked_http, sleeps, answer):
    mocked_http.post(INIT_URL, **answer)

    with pytest.raises(TikTokError) as raised:
        init_direct_post(token=VALID_TOKEN, post_info=POST_INFO, video_size=MB, plan=chunk_plan(MB))

    assert raised.value.code == "unavailable"
    assert raised.value.status == answer["status"]
    assert len(calls_to(mocked_http, INIT_URL)) == 1
    assert sleeps == []


def test_an_init_is_never_retried_on_a_network_error(mocked_http, sleeps):
    mocked_http.post(INIT_URL, body=requests.ConnectionError("reset"))

    with pytest.raises(TikTokError) as raised:
        init_direct_post(token=VALID_TOKEN, post_info=POST_INFO, video_size=MB, plan=chunk_plan(MB))

    assert raised.value.code == "unreachable"
    assert len(calls_to(mocked_http, INIT_URL)) == 1


def test_a_privacy_level_the_creator_lacks_is_refused(tiktok, tmp_path):
    tiktok.privacy_options = ["SELF_ONLY"]

    with pytest.raises(TikTokError) as raised:
        start_post(tmp_path, size=MB)

    assert raised.value.code == "privacy_level_option_mismatch"
    start_post(tmp_path, size=MB, post_info={**POST_INFO, "privacy_level": "SELF_ONLY"})
    assert len(tiktok.posts) == 1


def test_tiktoks_refusal_codes_are_kept(tiktok, tmp_path):
    tiktok.init_error = "unaudited_client_can_only_post_to_private_accounts"

    with pytest.raises(TikTokError) as raised:
        start_post(tmp_path, size=MB)

    assert raised.value.code == "unaudited_client_can_only_post_to_private_accounts"
    assert raised.value.status == 403


def test_an_error_code_under_http_200_is_still_an_error(mocked_http):
    answer = {"data": {}, "error": {"code": "spam_risk_too_many_posts", "message": "Daily cap", "log_id": "L1"}}
    mocked_http.post(INIT_URL, json=answer)

    with pytest.raises(TikTokError) as raised:
        init_direct_post(token=VALID_TOKEN, post_info=POST_INFO, video_size=MB, plan=chunk_plan(MB))

    assert (raised.value.code, raised.value.status, raised.value.log_id) == ("spam_risk_too_many_posts", 200, "L1")


@pytest.mark.parametrize("answer", [{"body": "<html>gateway</html>"}, {"json": {"data": {"publish_id": "x"}}}])
def test_an_answer_without_tiktoks_shape_is_invalid_response(mocked_http, answer):
    mocked_http.post(INIT_URL, **answer)

    with pytest.raises(TikTokError) as raised:
        init_direct_post(token=VALID_TOKEN, post_info=POST_INFO, video_size=MB, plan=chunk_plan(MB))

    assert raised.value.code == "invalid_response"


@pytest.mark.parametrize(
    ("post_info", "plan"),
    [
        ({**POST_INFO, "privacy_level": "PUBLIC"}, ChunkPlan(12 * MB, 1)),
        (POST_INFO, ChunkPlan(5 * MB, 3)),  # 12 MiB is 2 chunks of 5 MiB, not 3
        (POST_INFO, ChunkPlan(2 * MB, 6)),  # chunks under 5 MB
    ],
)
def test_a_bad_post_is_refused_before_spending_an_init(tiktok, post_info, plan):
    with pytest.raises(ValueError, match=r"privacy_level|chunk_plan"):
        init_direct_post(token=VALID_TOKEN, post_info=post_info, video_size=12 * MB, plan=plan)

    assert tiktok.inits == []


# --- Upload ---------------------------------------------------------------------------------------


def test_a_video_is_uploaded_in_order_in_several_chunks(tiktok, mocked_http, tmp_path):
    size = 16 * MB + 17
    path, plan, init = start_post(tmp_path, size=size)
    accepted = []

    upload(path, plan, init, on_chunk=accepted.append)

    assert plan == ChunkPlan(5 * MB, 3)
    assert accepted == [0, 1, 2]
    sent = [call.request for call in puts(mocked_http)]
    assert [request.headers["Content-Range"] for request in sent] == [
        f"bytes 0-{5 * MB - 1}/{size}",
        f"bytes {5 * MB}-{10 * MB - 1}/{size}",
        f"bytes {10 * MB}-{size - 1}/{size}",
    ]
    assert [request.headers["Content-Length"] for request in sent] == [str(5 * MB), str(5 * MB), str(6 * MB + 17)]
    assert all(request.headers["Content-Type"] == "video/mp4" for request in sent)
    assert all("Authorization" not in request.headers for request in sent)  # the user token stays with the API
    assert [call.response.status_code for call in puts(mocked_http)] == [206, 206, 201]
    post = tiktok.posts[init["publish_id"]]
    assert post["upload_complete"]
    assert bytes(post["data"]) == path.read_bytes()


def test_a_small_video_goes_in_one_chunk(tiktok, mocked_http, tmp_path):
    path, plan, init = start_post(tmp_path, size=3 * MB + 5)

    upload(path, plan, init)

    assert [call.request.headers["Content-Range"] for call in puts(mocked_http)] == [
        f"bytes 0-{3 * MB + 4}/{3 * MB + 5}"
    ]
    assert [call.response.status_code for call in puts(mocked_http)] == [201]


def test_a_chunk_refused_with_503_is_sent_again(tiktok, mocked_http, sleeps, tmp_path):
    path, plan, init = start_post(tmp_path, size=12 * MB)
    tiktok.fail_next_chunks = 1

    upload(path, plan, init)

    ranges = [call.request.headers["Content-Range"] for call in puts(mocked_http)]
    assert ranges == [f"bytes 0-{5 * MB - 1}/{12 * MB}"] * 2 + [f"bytes {5 * MB}-{12 * MB - 1}/{12 * MB}"]
    assert len(sleeps) == 1
    assert bytes(tiktok.posts[init["publish_id"]]["data"]) == path.read_bytes()


def test_an_upload_resumes_from_the_first_chunk_not_recorded(tiktok, mocked_http, tmp_path):
    path, plan, init = start_post(tmp_path, size=16 * MB)

    def crash_after_first(index: int) -> None:
        raise RuntimeError("worker killed")

    with pytest.raises(RuntimeError):
        upload(path, plan, init, on_chunk=crash_after_first)
    upload(path, plan, init, first_chunk=1)

    assert len(puts(mocked_http)) == 3
    assert bytes(tiktok.posts[init["publish_id"]]["data"]) == path.read_bytes()


def test_a_chunk_out_of_order_is_refused(tiktok, tmp_path):
    path, plan, init = start_post(tmp_path, size=12 * MB)

    with pytest.raises(TikTokError) as raised:
        upload(path, plan, init, first_chunk=1)

    assert raised.value.code == "upload_failed"
    assert raised.value.status == 400


def test_an_expired_upload_url_is_upload_failed(tiktok, tmp_path):
    path, plan, init = start_post(tmp_path, size=MB)
    tiktok.expire_upload_url(init["publish_id"])

    with pytest.raises(TikTokError) as raised:
        upload(path, plan, init)

    assert (raised.value.code, raised.value.status) == ("upload_failed", 403)


def test_chunks_that_keep_failing_end_as_unavailable(tiktok, mocked_http, tmp_path):
    path, plan, init = start_post(tmp_path, size=MB)
    tiktok.fail_next_chunks = 10

    with pytest.raises(TikTokError) as raised:
        upload(path, plan, init)

    assert (raised.value.code, raised.value.status) == ("unavailable", 503)
    assert len(puts(mocked_http)) == 4


@pytest.mark.parametrize(("size", "status"), [(12 * MB, 201), (MB, 206)])
def test_an_upload_answer_that_disagrees_with_the_plan_is_invalid_response(mocked_http, tmp_path, size, status):
    url = f"{TIKTOK_UPLOAD_URL}/upload/?upload_id=1"
    mocked_http.put(url, status=status)  # "complete" after the first of two chunks; "partial" after the only one

    with pytest.raises(TikTokError) as raised:
        upload_chunks(upload_url=url, path=video_file(tmp_path, size), video_size=size, plan=chunk_plan(size))

    assert (raised.value.code, raised.value.status) == ("invalid_response", status)
    assert len(puts(mocked_http)) == 1


def test_a_lost_final_answer_leaves_a_post_that_fetch_status_finds(tiktok, tmp_path):
    path, plan, init = start_post(tmp_path, size=12 * MB)
    tiktok.lose_final_chunk_response = True

    with pytest.raises(TikTokError) as raised:
        upload(path, plan, init)

    assert raised.value.code == "unreachable"
    assert fetch_status(token=VALID_TOKEN, publish_id=init["publish_id"])["status"] == "PUBLISH_COMPLETE"
    assert tiktok.published() == 1


def test_a_file_that_changed_size_is_not_uploaded(tiktok, tmp_path):
    path, plan, init = start_post(tmp_path, size=MB)
    with path.open("ab") as video:
        video.truncate(2 * MB)

    with pytest.raises(ValueError, match="bytes"):
        upload_chunks(upload_url=init["upload_url"], path=path, video_size=MB, plan=plan)


# --- Status ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        ("status.processing_upload.json", {"status": "PROCESSING_UPLOAD", "uploaded_bytes": 10 * MB}),
        (
            "status.publish_complete.json",
            {
                "status": "PUBLISH_COMPLETE",
                "publicaly_available_post_id": ["7559204390117690646"],
                "uploaded_bytes": 12 * MB,
            },
        ),
        (
            "status.publish_complete_moderating.json",
            {"status": "PUBLISH_COMPLETE", "publicaly_available_post_id": [], "uploaded_bytes": 12 * MB},
        ),
        (
            "status.failed.json",
            {
                "status": "FAILED",
                "fail_reason": "duration_check_failed",
                "publicaly_available_post_id": [],
                "uploaded_bytes": 12 * MB,
            },
        ),
    ],
)
def test_status_is_read_from_tiktoks_answers(mocked_http, fixture, expected):
    mocked_http.post(STATUS_URL, json=load_fixture(f"tiktok/{fixture}"))

    assert fetch_status(token=VALID_TOKEN, publish_id="v_pub_file~v2-1.1") == expected
    assert json.loads(mocked_http.calls[0].request.body) == {"publish_id": "v_pub_file~v2-1.1"}


def test_a_post_is_processed_then_published(tiktok, tmp_path):
    path, plan, init = start_post(tmp_path, size=12 * MB)
    tiktok.processing_fetches = 1
    upload(path, plan, init)

    processing = fetch_status(token=VALID_TOKEN, publish_id=init["publish_id"])
    published = fetch_status(token=VALID_TOKEN, publish_id=init["publish_id"])

    assert processing == {"status": "PROCESSING_UPLOAD", "uploaded_bytes": 12 * MB}
    assert published["status"] == "PUBLISH_COMPLETE"
    [post_id] = published["publicaly_available_post_id"]
    assert post_id == tiktok.posts[init["publish_id"]]["post_id"]
    assert post_url(username="pixelpioneer", post_id=post_id) == f"https://www.tiktok.com/@pixelpioneer/video/{post_id}"


def test_a_post_being_uploaded_reports_its_bytes(tiktok, tmp_path):
    path, plan, init = start_post(tmp_path, size=12 * MB)

    with pytest.raises(RuntimeError):
        upload(path, plan, init, on_chunk=lambda index: (_ for _ in ()).throw(RuntimeError("stop")))

    assert fetch_status(token=VALID_TOKEN, publish_id=init["publish_id"]) == {
        "status": "PROCESSING_UPLOAD",
        "uploaded_bytes": 5 * MB,
    }
    assert tiktok.published() == 0


def test_a_failed_post_gives_tiktoks_reason(tiktok, tmp_path):
    path, plan, init = start_post(tmp_path, size=MB)
    tiktok.fail_publish = "frame_rate_check_failed"
    upload(path, plan, init)

    status = fetch_status(token=VALID_TOKEN, publish_id=init["publish_id"])

    assert (status["status"], status["fail_reason"]) == ("FAILED", "frame_rate_check_failed")
    assert tiktok.published() == 0


def test_the_post_id_comes_only_after_moderation(tiktok, tmp_path):
    path, plan, init = start_post(tmp_path, size=MB)
    tiktok.moderation = True
    upload(path, plan, init)

    moderating = fetch_status(token=VALID_TOKEN, publish_id=init["publish_id"])
    tiktok.finish_moderation(init["publish_id"])
    moderated = fetch_status(token=VALID_TOKEN, publish_id=init["publish_id"])

    assert (moderating["status"], moderating["publicaly_available_post_id"]) == ("PUBLISH_COMPLETE", [])
    assert moderated["status"] == "PUBLISH_COMPLETE"
    assert moderated["publicaly_available_post_id"] == [tiktok.posts[init["publish_id"]]["post_id"]]
    assert tiktok.published() == 1


def test_a_status_fetch_is_retried_through_an_outage(mocked_http, sleeps):
    mocked_http.post(STATUS_URL, status=502)  # registered answers to one URL are used in order
    mocked_http.post(STATUS_URL, json=load_fixture("tiktok/status.processing_upload.json"))

    assert fetch_status(token=VALID_TOKEN, publish_id="v_pub_file~v2-1.1")["status"] == "PROCESSING_UPLOAD"
    assert len(calls_to(mocked_http, STATUS_URL)) == 2
    assert len(sleeps) == 1
