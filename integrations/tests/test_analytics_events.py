"""The analytics events each flow sends: exactly one per real outcome, with its key properties and no secrets."""

import json
from datetime import UTC, datetime, timedelta

import pytest
import requests
from django.utils import timezone

from accounts.models import User
from accounts.tests.clerk_fakes import CLERK_API_URL, clerk_event, clerk_user, signed_webhook
from accounts.tests.clerk_fakes import WEBHOOK_SECRET as CLERK_WEBHOOK_SECRET
from clips import services as clip_services
from clips.models import Clip
from clips.tests import conftest as clip_fixtures
from clips.tests.factories import BROADCASTER_ID, TWITCH_API_URL, helix_clip, helix_page, make_clip
from integrations.twitch import TwitchClient
from renders import services as render_services
from renders.models import RenderJob
from renders.tests import conftest as render_fixtures
from renders.tests.conftest import WEBHOOK_SECRET as REMOTION_WEBHOOK_SECRET
from renders.tests.conftest import WEBHOOK_URL as REMOTION_WEBHOOK_URL
from renders.tests.conftest import remotion_delivery, success_payload

pytestmark = pytest.mark.django_db

# The clips and renders tests' fixtures, shared with these tests.
sample_video = clip_fixtures.sample_video
media_root = render_fixtures.media_root
local_render_settings = render_fixtures.local_render_settings
remotion_settings = render_fixtures.remotion_settings
preset = render_fixtures.preset
landscape_video = render_fixtures.landscape_video
portrait_video = render_fixtures.portrait_video
ready_clip = render_fixtures.ready_clip

POSTHOG_HOST = "https://posthog.creatorsync.test"  # the fake host of the root `posthog_enabled` fixture
FLAGS_URL = f"{POSTHOG_HOST}/flags/?v=4"
ME = "/api/me/"
RENDERS = "/api/renders/"
CLERK_WEBHOOK_URL = "/webhooks/clerk/"
NEWCOMER = "user_2newcomer"
CLIPS_URL = f"{TWITCH_API_URL}/clips"
DOWNLOADS_URL = f"{TWITCH_API_URL}/clips/downloads"
CDN_URL = "https://production.assets.clips.twitchcdn.test/landscape.mp4?sig=abc"
USER_TOKEN = "twitch-user-token-1"
RENDER_ID = "8tq1x2k9ab"
SINCE = datetime(2026, 1, 5, tzinfo=UTC)
UNTIL = SINCE + timedelta(days=7)
LAYOUT = {"trim_start": 0.0, "trim_end": 3.0, "aspect": "9:16", "layout": "fill"}

# Nothing sent to PostHog may contain any of these (see the conftests and clips/tests/conftest.py).
SECRETS = (
    "sk_test_creatorsync",  # CLERK_SECRET_KEY
    CLERK_WEBHOOK_SECRET,
    CLERK_WEBHOOK_SECRET.removeprefix("whsec_"),
    REMOTION_WEBHOOK_SECRET,
    "twitch-client-secret",
    "app-token-1",  # the Twitch app access token
    USER_TOKEN,  # the streamer's Twitch token, from Clerk
    "Bearer ",
)


@pytest.fixture
def events(posthog_enabled, mocked_http):
    """`events()`: (name, distinct_id, our properties) for every event PostHog received, in order.

    PostHog answers flag requests with no flags, so requests evaluating flags get the defaults.
    """
    mocked_http.post(FLAGS_URL, json={"flags": {}})

    def received() -> list[tuple[str, str, dict]]:
        return [
            (
                event["event"],
                event["distinct_id"],
                {key: value for key, value in event["properties"].items() if not key.startswith("$")},
            )
            for event in posthog_enabled()
        ]

    return received


@pytest.fixture(autouse=True)
def _no_secret_reaches_posthog(mocked_http):
    yield
    assert_no_secret_sent(mocked_http)


def posthog_bodies(mock) -> list[str]:
    bodies = [call.request.body for call in mock.calls if call.request.url.startswith(POSTHOG_HOST)]
    return [body.decode() if isinstance(body, bytes) else body or "" for body in bodies]


def assert_no_secret_sent(mock) -> None:
    for body in posthog_bodies(mock):
        leaked = [secret for secret in SECRETS if secret in body]
        assert not leaked, f"sent to PostHog: {leaked}"


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """`with committed():` runs the on-commit callbacks of the block, as a real commit would."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def names(events) -> list[str]:
    return [name for name, _, _ in events]


# --- user signed up -----------------------------------------------------------------------------


@pytest.fixture
def no_backend_api(clerk, clerk_settings):
    """Clerk verifies sessions, but without a secret key nobody fetches profiles."""
    clerk_settings.CLERK_SECRET_KEY = ""
    return clerk


def first_request(api_client, signing_key, clerk_id: str = NEWCOMER):
    return api_client.get(ME, HTTP_AUTHORIZATION=f"Bearer {signing_key.session_token(sub=clerk_id)}")


def deliver_clerk(client, event: dict, *, msg_id: str | None = None):
    raw, headers = signed_webhook(event, msg_id=msg_id)
    response = client.post(CLERK_WEBHOOK_URL, raw, content_type="application/json", **headers)
    assert response.status_code == 200, response.content
    return response.json()["status"]


def test_a_first_request_announces_the_signup_from_the_first_request(
    api_client, no_backend_api, signing_key, events, committed
):
    with committed():
        assert first_request(api_client, signing_key).status_code == 200

    assert events() == [("user signed up", NEWCOMER, {"source": "first_request", "has_twitch": False})]


def test_later_requests_do_not_announce_the_signup_again(api_client, no_backend_api, signing_key, events, committed):
    with committed():
        for _ in range(3):
            assert first_request(api_client, signing_key).status_code == 200

    assert names(events()) == ["user signed up"]


def test_a_first_request_that_fetches_the_profile_announces_the_twitch_link_and_the_signup(
    api_client, clerk, signing_key, events, committed
):
    clerk.get(f"{CLERK_API_URL}/users/{NEWCOMER}", json=clerk_user(NEWCOMER, twitch=("123456", "newstreams")))

    with committed():
        assert first_request(api_client, signing_key).status_code == 200

    assert events() == [
        ("twitch linked", NEWCOMER, {"twitch_user_id": "123456", "twitch_login": "newstreams"}),
        ("user signed up", NEWCOMER, {"source": "first_request", "has_twitch": True}),
    ]


@pytest.fixture
def webhooks(clerk_settings, mocked_http):
    return clerk_settings


def test_a_user_created_webhook_announces_the_signup_from_the_webhook(client, webhooks, events, committed):
    with committed():
        deliver_clerk(client, clerk_event("user.created", clerk_user(NEWCOMER, twitch=None)))

    assert events() == [("user signed up", NEWCOMER, {"source": "webhook", "has_twitch": False})]


def test_a_user_created_webhook_with_twitch_also_announces_the_link(client, webhooks, events, committed):
    with committed():
        deliver_clerk(client, clerk_event("user.created", clerk_user(NEWCOMER, twitch=("123456", "newstreams"))))

    assert events() == [
        ("twitch linked", NEWCOMER, {"twitch_user_id": "123456", "twitch_login": "newstreams"}),
        ("user signed up", NEWCOMER, {"source": "webhook", "has_twitch": True}),
    ]


def test_a_redelivered_user_created_webhook_sends_nothing_more(client, webhooks, events, committed):
    event = clerk_event("user.created", clerk_user(NEWCOMER))
    with committed():
        assert deliver_clerk(client, event, msg_id="msg_created_1") == "applied"
        assert deliver_clerk(client, event, msg_id="msg_created_1") == "duplicate"
        assert deliver_clerk(client, event, msg_id="msg_created_1") == "duplicate"

    assert names(events()) == ["twitch linked", "user signed up"]


def test_a_user_created_webhook_after_the_first_request_does_not_announce_a_second_signup(
    client, api_client, no_backend_api, signing_key, events, committed
):
    with committed():
        assert first_request(api_client, signing_key).status_code == 200
        deliver_clerk(client, clerk_event("user.created", clerk_user(NEWCOMER, twitch=None)))

    assert events() == [("user signed up", NEWCOMER, {"source": "first_request", "has_twitch": False})]


def test_a_user_updated_webhook_is_not_a_signup(client, webhooks, events, committed, owner):
    with committed():
        deliver_clerk(client, clerk_event("user.updated", clerk_user(owner.clerk_id, twitch=None)))

    assert events() == []


# --- user deleted -------------------------------------------------------------------------------


def deleted_event(clerk_id: str) -> dict:
    return clerk_event("user.deleted", {"id": clerk_id, "object": "user", "deleted": True})


def test_a_user_deleted_webhook_announces_the_deletion(client, webhooks, events, committed, owner):
    with committed():
        deliver_clerk(client, deleted_event(owner.clerk_id))

    assert events() == [("user deleted", owner.clerk_id, {})]


def test_a_redelivered_user_deleted_webhook_announces_the_deletion_once(client, webhooks, events, committed, owner):
    with committed():
        assert deliver_clerk(client, deleted_event(owner.clerk_id), msg_id="msg_deleted_1") == "applied"
        assert deliver_clerk(client, deleted_event(owner.clerk_id), msg_id="msg_deleted_1") == "duplicate"
        # Clerk sending the deletion again as a new message changes nothing either.
        assert deliver_clerk(client, deleted_event(owner.clerk_id), msg_id="msg_deleted_2") == "applied"

    assert events() == [("user deleted", owner.clerk_id, {})]


# --- twitch linked ------------------------------------------------------------------------------


@pytest.fixture
def member(client, webhooks):
    """A user created by a user.created webhook without Twitch (its events are not part of the test)."""
    deliver_clerk(client, clerk_event("user.created", clerk_user(NEWCOMER, twitch=None, updated_at=1)))
    return NEWCOMER


def update(client, *, twitch, updated_at: int, msg_id: str | None = None) -> str:
    return deliver_clerk(
        client, clerk_event("user.updated", clerk_user(NEWCOMER, twitch=twitch, updated_at=updated_at)), msg_id=msg_id
    )


def test_linking_twitch_announces_the_link(client, member, events, committed):
    with committed():
        update(client, twitch=("123456", "newstreams"), updated_at=2)

    assert events() == [("twitch linked", NEWCOMER, {"twitch_user_id": "123456", "twitch_login": "newstreams"})]


def test_switching_to_another_twitch_account_announces_the_new_link(client, member, events, committed):
    update(client, twitch=("123456", "newstreams"), updated_at=2)

    with committed():
        update(client, twitch=("654321", "otherchannel"), updated_at=3)

    assert events() == [("twitch linked", NEWCOMER, {"twitch_user_id": "654321", "twitch_login": "otherchannel"})]


def test_an_update_with_the_same_twitch_account_announces_nothing(client, member, events, committed):
    update(client, twitch=("123456", "newstreams"), updated_at=2)

    with committed():
        update(client, twitch=("123456", "newstreams"), updated_at=3)
        update(client, twitch=("123456", "renamedstreams"), updated_at=4)  # a renamed login is not a new link

    assert events() == []


def test_a_redelivered_link_is_announced_once(client, member, events, committed):
    with committed():
        update(client, twitch=("123456", "newstreams"), updated_at=2, msg_id="msg_link")
        update(client, twitch=("123456", "newstreams"), updated_at=2, msg_id="msg_link")

    assert names(events()) == ["twitch linked"]


def test_relinking_after_an_unlink_announces_the_link_again(client, member, events, committed):
    update(client, twitch=("123456", "newstreams"), updated_at=2)

    with committed():
        update(client, twitch=None, updated_at=3)
        update(client, twitch=("123456", "newstreams"), updated_at=4)

    assert names(events()) == ["twitch linked"]


# --- clips imported / clips import failed -------------------------------------------------------


@pytest.fixture
def importing(twitch, twitch_settings, streamer):
    twitch_settings.CLIP_IMPORT_WINDOW_DAYS = 7
    return clip_services.clip_import_start(user=streamer, since=SINCE, until=UNTIL, enqueue=False)


def run_import(clip_import):
    return clip_services.clip_import_run(clip_import_id=str(clip_import.pk), client=TwitchClient(sleep=lambda _: None))


def test_a_finished_import_announces_its_counts_and_window(twitch, importing, streamer, events, committed):
    make_clip(streamer, twitch_clip_id="Known-1")
    twitch.get(CLIPS_URL, json=helix_page([helix_clip("Known-1"), helix_clip("New-1"), helix_clip("New-2")]))

    with committed():
        finished = run_import(importing)

    [(name, distinct_id, properties)] = events()
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


def test_a_failed_import_announces_the_failure_and_its_error(twitch, importing, streamer, events, committed):
    twitch.get(CLIPS_URL, status=500, json={"error": "Internal Server Error"})

    with committed():
        failed = run_import(importing)

    assert failed.status == "failed"
    [(name, distinct_id, properties)] = events()
    assert (name, distinct_id) == ("clips import failed", streamer.clerk_id)
    assert properties["import_id"] == str(importing.pk)
    assert (properties["clips_seen"], properties["clips_created"], properties["pages"]) == (0, 0, 0)
    assert properties["window_days"] == 7.0
    assert properties["error"] == failed.error[:200]
    assert "HTTP 500" in properties["error"]


def test_running_a_finished_import_again_announces_nothing(twitch, importing, events, committed):
    twitch.get(CLIPS_URL, json=helix_page([helix_clip()]))
    run_import(importing)

    with committed():
        run_import(importing)

    assert events() == []


# --- clip media fetched / clip media failed -----------------------------------------------------


@pytest.fixture
def media(clerk_settings, twitch):
    """Clerk and Twitch on one mock."""
    return twitch


@pytest.fixture
def twitch_clip(streamer) -> Clip:
    return make_clip(streamer, twitch_clip_id="FunnyClip-xyz", broadcaster_id=BROADCASTER_ID)


def clerk_token(mock, user, scopes=("channel:manage:clips", "user:read:email")) -> None:
    mock.get(
        f"{CLERK_API_URL}/users/{user.clerk_id}/oauth_access_tokens/oauth_twitch",
        json=[{"object": "oauth_access_token", "token": USER_TOKEN, "scopes": list(scopes)}],
    )


def test_a_fetched_clip_video_announces_its_format(media, twitch_clip, sample_video, events, committed):
    video = sample_video.read_bytes()
    clerk_token(media, twitch_clip.owner)
    media.get(
        DOWNLOADS_URL, json={"data": [{"clip_id": twitch_clip.twitch_clip_id, "landscape_download_url": CDN_URL}]}
    )
    media.get(CDN_URL, body=video, content_type="video/mp4")

    with committed():
        fetched = clip_services.clip_media_fetch(clip_id=str(twitch_clip.pk))

    assert fetched.media_status == Clip.MediaStatus.READY
    [(name, distinct_id, properties)] = events()
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


def test_a_token_without_the_clips_scope_announces_a_missing_scope_failure(media, twitch_clip, events, committed):
    clerk_token(media, twitch_clip.owner, scopes=["user:read:email"])

    with committed():
        clip_services.clip_media_fetch(clip_id=str(twitch_clip.pk))

    assert events() == [
        ("clip media failed", twitch_clip.owner.clerk_id, {"clip_id": str(twitch_clip.pk), "reason": "missing_scope"})
    ]


def test_an_unlinked_twitch_account_announces_a_twitch_not_linked_failure(media, owner, events, committed):
    clip = make_clip(owner)

    with committed():
        clip_services.clip_media_fetch(clip_id=str(clip.pk))

    assert events() == [("clip media failed", owner.clerk_id, {"clip_id": str(clip.pk), "reason": "twitch_not_linked"})]


def test_an_expired_download_link_announces_a_download_failure(media, twitch_clip, events, committed):
    clerk_token(media, twitch_clip.owner)
    media.get(
        DOWNLOADS_URL, json={"data": [{"clip_id": twitch_clip.twitch_clip_id, "landscape_download_url": CDN_URL}]}
    )
    media.get(CDN_URL, status=403, body="expired")

    with committed():
        clip_services.clip_media_fetch(clip_id=str(twitch_clip.pk))

    assert [(name, properties["reason"]) for name, _, properties in events()] == [
        ("clip media failed", "download_failed")
    ]


# --- render requested ---------------------------------------------------------------------------


def test_a_requested_render_announces_its_preset_layout_and_length(
    api_client, bearer, owner, ready_clip, preset, local_render_settings, events, committed
):
    props = {"trim_start": 0.5, "trim_end": 2.5, "layout": "fill", "title": "GG"}

    with committed():
        response = api_client.post(
            RENDERS, {"clip": str(ready_clip.pk), "preset": preset.slug, "props": props}, format="json", **bearer(owner)
        )

    assert response.status_code == 201, response.content
    assert events() == [
        (
            "render requested",
            owner.clerk_id,
            {
                "job_id": response.json()["id"],
                "clip_id": str(ready_clip.pk),
                "clip_source": "twitch",
                "preset": "vertical-720p",
                "layout": "fill",
                "aspect": "9:16",
                "length_seconds": 2.0,
                "has_title": True,
                "backend": "local",
            },
        )
    ]


def test_a_refused_render_request_announces_nothing(
    api_client, bearer, owner, ready_clip, preset, local_render_settings, events, committed
):
    with committed():
        response = api_client.post(
            RENDERS,
            {"clip": str(ready_clip.pk), "preset": preset.slug, "props": {"trim_end": 99}},
            format="json",
            **bearer(owner),
        )

    assert response.status_code == 400
    assert events() == []


# --- render succeeded / failed / cancelled ------------------------------------------------------


@pytest.fixture
def rendering_job(owner, ready_clip, preset, remotion_settings) -> RenderJob:
    """A job rendering on Remotion Lambda for 30 seconds (its creation's events are not part of the test)."""
    job = render_services.render_job_create(owner=owner, clip=ready_clip, preset=preset, input_props=dict(LAYOUT))
    RenderJob.objects.filter(pk=job.pk).update(
        status=RenderJob.Status.RENDERING,
        backend_render_id=RENDER_ID,
        dispatched_at=timezone.now() - timedelta(seconds=30),
        attempts=1,
    )
    job.refresh_from_db()
    return job


def deliver_remotion(client, payload: dict):
    body, headers = remotion_delivery(payload)
    return client.post(REMOTION_WEBHOOK_URL, data=body, content_type="application/json", **headers)


def error_payload(job: RenderJob) -> dict:
    return {
        "type": "error",
        "renderId": RENDER_ID,
        "bucketName": "remotionlambda-useast1-abc",
        "customData": {"job": str(job.pk)},
        "errors": [{"message": "Composition crashed", "name": "Error", "stack": "Error: ..."}],
    }


def test_a_success_webhook_delivered_three_times_announces_one_success(client, rendering_job, owner, events, committed):
    payload = success_payload(render_id=RENDER_ID, job_id=str(rendering_job.pk))

    with committed():
        statuses = [deliver_remotion(client, payload).json()["status"] for _ in range(3)]

    assert statuses == ["applied", "duplicate", "duplicate"]
    [(name, distinct_id, properties)] = events()
    assert (name, distinct_id) == ("render succeeded", owner.clerk_id)
    assert properties == {
        "job_id": str(rendering_job.pk),
        "preset": "vertical-720p",
        "backend": "remotion_lambda",
        "source": "webhook",
        "attempts": 1,
        "render_seconds": pytest.approx(30, abs=5),
        "cost": 0.0123,
    }


def test_an_error_webhook_announces_a_failure_with_its_reason(client, rendering_job, owner, events, committed):
    with committed():
        for _ in range(2):
            deliver_remotion(client, error_payload(rendering_job))

    [(name, distinct_id, properties)] = events()
    assert (name, distinct_id) == ("render failed", owner.clerk_id)
    assert properties["reason"] == "error"
    assert properties["source"] == "webhook"
    assert properties["job_id"] == str(rendering_job.pk)
    assert "cost" not in properties


def test_a_timeout_webhook_announces_a_timeout_failure(client, rendering_job, events, committed):
    payload = {"type": "timeout", "renderId": RENDER_ID, "customData": {"job": str(rendering_job.pk)}}

    with committed():
        deliver_remotion(client, payload)

    assert [(name, properties["reason"]) for name, _, properties in events()] == [("render failed", "timeout")]


def test_a_failure_after_the_success_announces_nothing_more(client, rendering_job, events, committed):
    with committed():
        deliver_remotion(client, success_payload(render_id=RENDER_ID, job_id=str(rendering_job.pk)))
        deliver_remotion(client, error_payload(rendering_job))

    assert names(events()) == ["render succeeded"]


def test_cancelling_a_render_announces_the_cancellation_once(
    api_client, bearer, owner, ready_clip, preset, local_render_settings, events, committed
):
    job = render_services.render_job_create(owner=owner, clip=ready_clip, preset=preset, input_props=dict(LAYOUT))
    url = f"{RENDERS}{job.pk}/cancel/"

    with committed():
        assert api_client.post(url, **bearer(owner)).status_code == 200
        assert api_client.post(url, **bearer(owner)).status_code == 409

    [(name, distinct_id, properties)] = events()
    assert (name, distinct_id) == ("render cancelled", owner.clerk_id)
    assert properties["job_id"] == str(job.pk)
    assert properties["source"] == "api"
    assert properties["preset"] == "vertical-720p"
    assert "reason" not in properties


# --- No secrets -----------------------------------------------------------------------------------


def test_no_token_or_secret_is_sent_to_posthog(
    client,
    api_client,
    bearer,
    clerk,
    media,
    owner,
    twitch_clip,
    sample_video,
    ready_clip,
    preset,
    remotion_settings,
    events,
    committed,
):
    """Every secret the flows below handle: Clerk's keys, webhook secrets, Twitch tokens and the session token."""
    media.get(
        DOWNLOADS_URL, json={"data": [{"clip_id": twitch_clip.twitch_clip_id, "landscape_download_url": CDN_URL}]}
    )
    media.get(CDN_URL, body=sample_video.read_bytes(), content_type="video/mp4")
    clerk_token(media, owner)
    headers = bearer(owner)
    session_token = headers["HTTP_AUTHORIZATION"].removeprefix("Bearer ")

    with committed():
        deliver_clerk(client, clerk_event("user.created", clerk_user(NEWCOMER, twitch=("777", "newstreams"))))
        clip_services.clip_media_fetch(clip_id=str(twitch_clip.pk))
        api_client.post(RENDERS, {"clip": str(ready_clip.pk), "preset": preset.slug}, format="json", **headers)
        job = RenderJob.objects.get()
        RenderJob.objects.filter(pk=job.pk).update(status="rendering", backend_render_id=RENDER_ID)
        deliver_remotion(client, success_payload(render_id=RENDER_ID, job_id=str(job.pk)))
        deliver_clerk(client, deleted_event(NEWCOMER))

    assert names(events()) == [
        "twitch linked",
        "user signed up",
        "clip media fetched",
        "render requested",
        "render succeeded",
        "user deleted",
    ]
    assert_no_secret_sent(clerk)
    assert all(session_token not in body for body in posthog_bodies(clerk))
    assert all(json.loads(body) for body in posthog_bodies(clerk))  # what was checked is what was sent


@pytest.mark.parametrize(
    "outage", [{"body": requests.ConnectionError("PostHog is down")}, {"status": 500, "json": {"detail": "down"}}]
)
def test_a_flow_completes_when_posthog_is_down(client, webhooks, events, committed, mocked_http, outage):
    mocked_http.replace("POST", f"{POSTHOG_HOST}/batch/", **outage)

    with committed():
        assert deliver_clerk(client, clerk_event("user.created", clerk_user(NEWCOMER))) == "applied"

    assert User.objects.filter(clerk_id=NEWCOMER, deleted_at__isnull=True).exists()
    assert names(events()) == ["twitch linked", "user signed up"]  # attempted, and the failure swallowed
