"""The publishing API with real Clerk-signed bearer tokens: create, list, retrieve, cancel, retry, publish targets."""

import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from procrastinate.contrib.django.models import ProcrastinateJob

from clips.tests.factories import make_clip
from core.tests.helpers import error_code, error_details
from integrations.tests.fakes import CLERK_API_URL
from integrations.tests.tiktok_fake import FakeTikTok
from publishing import services
from publishing.connections import YOUTUBE_UPLOAD_SCOPE
from publishing.models import Publication
from publishing.tests.factories import (
    make_publication,
    make_succeeded_render,
    serve_no_connection,
    serve_platform_token,
)
from renders.models import RenderJob
from renders.tests.factories import make_job, make_preset

pytestmark = pytest.mark.django_db

PUBLICATIONS = "/api/publications/"
TARGETS = "/api/publish-targets/"
NOWHERE = "00000000-0000-0000-0000-000000000000"
Status = Publication.Status


def publication_url(publication: Publication | str, action: str = "") -> str:
    pk = publication.pk if isinstance(publication, Publication) else publication
    return f"{PUBLICATIONS}{pk}/{action + '/' if action else ''}"


def ids(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


def advance_jobs(publication: Publication) -> int:
    return ProcrastinateJob.objects.filter(
        task_name=services.ADVANCE_TASK, status="todo", args__publication_id=str(publication.pk)
    ).count()


def clerk_token_url(user, provider: str) -> str:
    return f"{CLERK_API_URL}/users/{user.clerk_id}/oauth_access_tokens/{provider}"


def daily_limit(settings, limit: int) -> None:
    settings.FEATURE_FLAG_DEFAULTS = {
        settings.RENDER_LIMITS_FLAG: {"enabled": True, "payload": {"daily_publications": limit}}
    }


@pytest.fixture
def post(api_client, bearer, owner):
    """`post(render, **fields)`: POST /api/publications/ as the owner (YouTube by default)."""

    def send(render: RenderJob | str, *, user=owner, **fields):
        data = {"render": str(getattr(render, "pk", render)), "platform": "youtube", **fields}
        return api_client.post(PUBLICATIONS, data, format="json", **bearer(user))

    return send


@pytest.fixture
def small_render(owner, publishing_settings):
    """`small_render(user)`: another succeeded render, its output a few bytes (for rows nothing uploads)."""
    return lambda user=owner, **fields: make_succeeded_render(user, size=64, **fields)


# --- Authentication ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", TARGETS),
        ("get", PUBLICATIONS),
        ("post", PUBLICATIONS),
        ("get", publication_url(NOWHERE)),
        ("post", publication_url(NOWHERE, "cancel")),
        ("post", publication_url(NOWHERE, "retry")),
    ],
)
def test_every_endpoint_requires_authentication(api_client, method, path):
    response = getattr(api_client, method)(path)

    assert response.status_code == 401
    assert error_code(response) == "not_authenticated"


# --- Create -----------------------------------------------------------------------------------------


def test_a_publication_is_created_queued_with_the_clips_title_by_default(post, owner, render, youtube):
    response = post(render, title="", description="gg", privacy="unlisted")

    assert response.status_code == 201, response.content
    body = response.json()
    publication = Publication.objects.get(pk=body["id"])
    assert publication.owner == owner
    assert (body["render"], body["platform"], body["status"]) == (str(render.pk), "youtube", "queued")
    assert (body["title"], body["description"], body["privacy"]) == ("Clutch 1v4", "gg", "unlisted")
    assert (body["scheduled_at"], body["next_attempt_at"], body["external_url"]) == (None, None, "")
    assert list(publication.events.values_list("kind", "source")) == [("created", "api")]
    assert advance_jobs(publication) == 1


def test_a_title_given_is_kept(post, render, youtube):
    response = post(render, title="  My best clutch  ")

    assert response.status_code == 201
    assert response.json()["title"] == "My best clutch"


def test_a_post_scheduled_in_the_future_is_scheduled(post, render, youtube, settings):
    settings.PUBLISH_YOUTUBE_UPLOAD_LEAD_SECONDS = 3600
    at = (timezone.now() + timedelta(days=1)).replace(microsecond=0)

    response = post(render, privacy="private", scheduled_at=at.isoformat())

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "scheduled"
    assert body["scheduled_at"] == at.isoformat().replace("+00:00", "Z")
    publication = Publication.objects.get(pk=body["id"])
    assert publication.next_attempt_at == at  # private: uploaded at the time itself
    assert advance_jobs(publication) == 1


@pytest.mark.parametrize(
    "offset", [timedelta(minutes=-1), timedelta(days=184)], ids=["in-the-past", "more-than-6-months-ahead"]
)
def test_a_schedule_in_the_past_or_too_far_ahead_is_refused(post, render, youtube, offset):
    response = post(render, scheduled_at=(timezone.now() + offset).isoformat())

    assert response.status_code == 400
    assert error_code(response) == "invalid_schedule"
    assert not Publication.objects.exists()


def test_a_render_that_has_not_succeeded_cannot_be_published(post, owner, youtube):
    rendering = make_job(owner, make_clip(owner), make_preset(), status=RenderJob.Status.RENDERING)

    response = post(rendering)

    assert response.status_code == 409
    assert error_code(response) == "render_not_ready"
    assert not Publication.objects.exists()


def test_a_strangers_render_looks_like_an_unknown_id(post, stranger, small_render, youtube):
    theirs = small_render(stranger)
    unknown = str(uuid.uuid4())

    refused, missing = post(theirs), post(unknown)

    assert (refused.status_code, missing.status_code) == (400, 400)
    assert error_code(refused) == error_code(missing) == "validation_error"
    assert set(error_details(refused)) == set(error_details(missing)) == {"render"}
    assert error_details(refused)["render"] == [
        message.replace(unknown, str(theirs.pk)) for message in error_details(missing)["render"]
    ]
    assert not Publication.objects.exists()


def test_a_malformed_render_id_is_a_field_error(post, youtube):
    response = post("not-a-uuid")

    assert response.status_code == 400
    assert set(error_details(response)) == {"render"}


@pytest.mark.parametrize("first_status", [Status.QUEUED, Status.UPLOADING, Status.PUBLISHED])
def test_a_render_cannot_be_published_twice_to_a_platform(post, render, youtube, first_status):
    first = make_publication(render, "youtube", status=first_status)

    response = post(render)

    assert response.status_code == 409
    assert error_code(response) == "already_published"
    assert error_details(response) == {"platform": "youtube"}
    assert list(Publication.objects.values_list("pk", flat=True)) == [first.pk]


@pytest.mark.parametrize("first_status", [Status.FAILED, Status.CANCELLED])
def test_a_render_can_be_published_again_after_a_failed_or_cancelled_one(post, render, youtube, first_status):
    make_publication(render, "youtube", status=first_status)

    response = post(render)

    assert response.status_code == 201, response.content
    assert Publication.objects.filter(render=render, platform="youtube").count() == 2


def test_the_same_render_may_go_to_the_other_platform(post, render, youtube, tiktok):
    make_publication(render, "youtube")

    response = post(render, platform="tiktok", privacy="private")

    assert response.status_code == 201, response.content
    assert (response.json()["platform"], response.json()["privacy"]) == ("tiktok", "SELF_ONLY")
    assert response.json()["account_name"] == "pixelpioneer"


@pytest.mark.parametrize("platform", ["youtube", "tiktok"])
def test_an_account_not_connected_under_either_provider_id_is_refused(
    post, mocked_http, owner, render, publishing_settings, platform
):
    serve_no_connection(mocked_http, owner, platform)

    response = post(render, platform=platform)

    assert response.status_code == 409
    assert error_code(response) == "account_not_connected"
    assert error_details(response)["platform"] == platform
    asked = {call.request.url for call in mocked_http.calls if "/oauth_access_tokens/" in call.request.url}
    provider = "google" if platform == "youtube" else "tiktok"
    assert asked == {clerk_token_url(owner, provider), clerk_token_url(owner, f"oauth_{provider}")}
    assert not Publication.objects.exists()


def test_the_older_oauth_google_provider_id_still_works(post, mocked_http, owner, render, publishing_settings):
    mocked_http.get(clerk_token_url(owner, "google"), json=[])
    serve_platform_token(mocked_http, owner, "youtube", provider="oauth_google")

    response = post(render)

    assert response.status_code == 201, response.content
    assert response.json()["status"] == "queued"


@pytest.mark.parametrize(
    ("platform", "scopes", "missing"),
    [("youtube", ["openid"], YOUTUBE_UPLOAD_SCOPE), ("tiktok", ["user.info.basic"], "video.publish")],
)
def test_a_connection_without_the_posting_scope_is_refused_naming_it(
    post, mocked_http, owner, render, publishing_settings, platform, scopes, missing
):
    serve_platform_token(mocked_http, owner, platform, scopes=scopes)
    FakeTikTok(mocked_http)

    response = post(render, platform=platform)

    assert response.status_code == 409
    assert error_code(response) == "missing_scope"
    assert error_details(response) == {"platform": platform, "scope": missing}


def test_a_broader_youtube_scope_is_enough(post, mocked_http, owner, render, publishing_settings):
    serve_platform_token(mocked_http, owner, "youtube", scopes=["https://www.googleapis.com/auth/youtube"])

    assert post(render).status_code == 201


# --- YouTube's rules ----------------------------------------------------------------------------------


@pytest.mark.parametrize("title", ["x" * 101, "Clutch <1v4>", "Clutch < 1v4"], ids=["101-chars", "angles", "lt"])
def test_a_title_youtube_refuses_is_a_400(post, render, youtube, title):
    response = post(render, title=title)

    assert response.status_code == 400
    assert error_code(response) == "invalid_title"
    assert error_details(response) == {"field": "title"}
    assert not Publication.objects.exists()


def test_a_title_of_100_characters_is_accepted(post, render, youtube):
    response = post(render, title="x" * 100)

    assert response.status_code == 201
    assert response.json()["title"] == "x" * 100


def test_without_a_title_or_a_clip_title_youtube_refuses(post, small_render, youtube):
    untitled = small_render(clip_title="")

    response = post(untitled, title="")

    assert response.status_code == 400
    assert error_code(response) == "invalid_title"


def test_a_privacy_youtube_does_not_know_is_refused_naming_the_allowed_levels(post, render, youtube):
    response = post(render, privacy="friends")

    assert response.status_code == 400
    assert error_code(response) == "invalid_privacy"
    assert error_details(response)["allowed"] == ["public", "unlisted", "private"]


# --- The daily limit ----------------------------------------------------------------------------------


def test_the_daily_publication_limit_refuses_the_next_one_with_a_429(post, render, small_render, youtube, settings):
    daily_limit(settings, 1)
    assert post(render).status_code == 201

    response = post(small_render())

    assert response.status_code == 429
    assert error_code(response) == "publication_limit_reached"
    details = error_details(response)
    assert (details["limit"], details["used"]) == (1, 1)
    tomorrow = (timezone.now() + timedelta(days=1)).date().isoformat()
    assert details["resets_at"].startswith(f"{tomorrow}T00:00:00")
    assert Publication.objects.count() == 1


def test_failed_and_cancelled_publications_do_not_count_towards_the_limit(
    post, render, small_render, youtube, settings
):
    daily_limit(settings, 1)
    make_publication(small_render(), status=Status.FAILED, failure_reason="error")
    make_publication(small_render(), status=Status.CANCELLED)

    assert post(render).status_code == 201


def test_publications_of_earlier_days_do_not_count(post, render, small_render, youtube, settings):
    daily_limit(settings, 1)
    earlier = make_publication(small_render(), status=Status.PUBLISHED)
    Publication.objects.filter(pk=earlier.pk).update(created_at=timezone.now() - timedelta(days=1, minutes=1))

    assert post(render).status_code == 201


def test_a_retry_counts_towards_the_daily_limit(
    api_client, bearer, owner, post, render, small_render, youtube, settings
):
    daily_limit(settings, 1)
    failed = make_publication(small_render(), status=Status.FAILED, failure_reason="error")  # does not count
    assert post(render).status_code == 201

    response = api_client.post(publication_url(failed, "retry"), **bearer(owner))

    assert response.status_code == 429
    assert error_code(response) == "publication_limit_reached"


# --- List and retrieve ---------------------------------------------------------------------------------


def test_the_list_shows_only_the_callers_publications_newest_first(
    api_client, bearer, owner, stranger, small_render, publishing_settings
):
    now = timezone.now()
    older = make_publication(small_render())
    newer = make_publication(small_render(), platform="tiktok")
    make_publication(small_render(stranger))
    Publication.objects.filter(pk=older.pk).update(created_at=now - timedelta(hours=2))
    Publication.objects.filter(pk=newer.pk).update(created_at=now - timedelta(hours=1))

    response = api_client.get(PUBLICATIONS, **bearer(owner))

    assert ids(response) == [str(newer.pk), str(older.pk)]
    assert response.json()["count"] == 2


def test_the_list_filters_by_render_platform_and_status(api_client, bearer, owner, small_render, publishing_settings):
    render = small_render()
    on_youtube = make_publication(render, "youtube")
    on_tiktok = make_publication(render, "tiktok", status=Status.PUBLISHED)
    elsewhere = make_publication(small_render(), "youtube", status=Status.FAILED)
    headers = bearer(owner)

    def listed(**query):
        return set(ids(api_client.get(PUBLICATIONS, query, **headers)))

    assert listed(render=str(render.pk)) == {str(on_youtube.pk), str(on_tiktok.pk)}
    assert listed(platform="youtube") == {str(on_youtube.pk), str(elsewhere.pk)}
    assert listed(status="published") == {str(on_tiktok.pk)}
    assert listed(render=str(render.pk), platform="tiktok") == {str(on_tiktok.pk)}
    assert listed(status="cancelled") == set()


def test_filtering_by_a_strangers_render_reveals_nothing(
    api_client, bearer, owner, stranger, small_render, publishing_settings
):
    theirs = small_render(stranger)
    make_publication(theirs)
    unknown = str(uuid.uuid4())
    headers = bearer(owner)

    refused = api_client.get(PUBLICATIONS, {"render": str(theirs.pk)}, **headers)
    missing = api_client.get(PUBLICATIONS, {"render": unknown}, **headers)

    assert (refused.status_code, missing.status_code) == (400, 400)
    assert error_code(refused) == error_code(missing) == "validation_error"
    assert error_details(refused) == error_details(missing)
    assert str(theirs.pk) not in refused.content.decode()


def test_a_malformed_render_filter_is_a_400(api_client, bearer, owner, publishing_settings):
    response = api_client.get(PUBLICATIONS, {"render": "not-a-uuid"}, **bearer(owner))

    assert response.status_code == 400
    assert set(error_details(response)) == {"render"}


def test_an_unknown_status_filter_is_a_400(api_client, bearer, owner, publishing_settings):
    response = api_client.get(PUBLICATIONS, {"status": "lost"}, **bearer(owner))

    assert response.status_code == 400
    assert set(error_details(response)) == {"status"}


def test_the_list_takes_the_same_number_of_queries_for_1_or_5_publications(
    api_client, bearer, owner, small_render, publishing_settings
):
    headers = bearer(owner)
    api_client.get(PUBLICATIONS, **headers)  # warms the Clerk key cache

    def queries_listing(count: int) -> int:
        Publication.objects.all().delete()
        for _ in range(count):
            make_publication(small_render())
        with CaptureQueriesContext(connection) as queries:
            assert len(ids(api_client.get(PUBLICATIONS, **headers))) == count
        return len(queries)

    one, five = queries_listing(1), queries_listing(5)

    assert one == five
    assert five <= 3, five


def test_the_owner_retrieves_a_publication(api_client, bearer, owner, render, publishing_settings):
    publication = make_publication(render, status=Status.FAILED, failure_reason="auth", error_message="Reconnect")

    response = api_client.get(publication_url(publication), **bearer(owner))

    assert response.status_code == 200
    body = response.json()
    assert (body["id"], body["status"], body["failure_reason"], body["error_message"]) == (
        str(publication.pk),
        "failed",
        "auth",
        "Reconnect",
    )
    assert not {"upload_url", "publish_id"} & set(body)


@pytest.mark.parametrize(("method", "action"), [("get", ""), ("post", "cancel"), ("post", "retry")])
def test_a_stranger_gets_404_for_someone_elses_publication(
    api_client, bearer, stranger, render, publishing_settings, method, action
):
    publication = make_publication(render, status=Status.FAILED, failure_reason="error")

    response = getattr(api_client, method)(publication_url(publication, action), **bearer(stranger))

    assert response.status_code == 404
    assert error_code(response) == "not_found"
    publication.refresh_from_db()
    assert publication.status == Status.FAILED


# --- Cancel ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [Status.QUEUED, Status.SCHEDULED])
def test_a_publication_whose_upload_has_not_started_is_cancelled(
    api_client, bearer, owner, render, publishing_settings, status
):
    publication = make_publication(render, status=status)

    response = api_client.post(publication_url(publication, "cancel"), **bearer(owner))

    assert response.status_code == 200, response.content
    assert response.json()["status"] == "cancelled"
    assert response.json()["finished_at"] is not None
    publication.refresh_from_db()
    assert publication.status == Status.CANCELLED
    assert list(publication.events.values_list("kind", "source")) == [("cancelled", "api")]


@pytest.mark.parametrize(
    "fields",
    [
        {"status": Status.UPLOADING},
        {"status": Status.PROCESSING},
        {"status": Status.QUEUED, "upload_url": "https://youtube.test/upload/youtube/v3/videos?upload_id=1"},
        {"status": Status.QUEUED, "publish_id": "v_pub_file~v2-1.1"},
    ],
    ids=["uploading", "processing", "queued-with-session", "queued-with-publish-id"],
)
def test_a_publication_whose_upload_started_cannot_be_cancelled(
    api_client, bearer, owner, render, publishing_settings, fields
):
    publication = make_publication(render, **fields)

    response = api_client.post(publication_url(publication, "cancel"), **bearer(owner))

    assert response.status_code == 409
    assert error_code(response) == "not_cancellable"
    assert response.json()["error"]["message"] == (
        f"A {fields['status']} publication whose upload started cannot be cancelled."
    )
    publication.refresh_from_db()
    assert publication.status == fields["status"]
    assert not publication.events.exists()


@pytest.mark.parametrize("status", [Status.PUBLISHED, Status.FAILED, Status.CANCELLED])
def test_a_final_publication_cannot_be_cancelled(api_client, bearer, owner, render, publishing_settings, status):
    publication = make_publication(render, status=status)

    response = api_client.post(publication_url(publication, "cancel"), **bearer(owner))

    assert response.status_code == 409
    assert error_code(response) == "not_cancellable"
    assert response.json()["error"]["message"] == f"A {status} publication cannot be cancelled."
    publication.refresh_from_db()
    assert publication.status == status


# --- Retry -----------------------------------------------------------------------------------------------


def test_a_failed_publication_is_retried_and_queued_again(api_client, bearer, owner, render, publishing_settings):
    publication = make_publication(
        render, status=Status.FAILED, failure_reason="error", error_message="Gave up", attempts=10
    )

    response = api_client.post(publication_url(publication, "retry"), **bearer(owner))

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["status"], body["failure_reason"], body["error_message"]) == ("queued", "", "")
    publication.refresh_from_db()
    assert (publication.status, publication.attempts) == (Status.QUEUED, 0)
    assert publication.requeued_at is not None
    assert advance_jobs(publication) == 1


@pytest.mark.parametrize("status", [Status.PUBLISHED, Status.QUEUED, Status.CANCELLED])
def test_only_a_failed_publication_can_be_retried(api_client, bearer, owner, render, publishing_settings, status):
    publication = make_publication(render, status=status)

    response = api_client.post(publication_url(publication, "retry"), **bearer(owner))

    assert response.status_code == 409
    assert error_code(response) == "not_retryable"
    publication.refresh_from_db()
    assert publication.status == status
    assert advance_jobs(publication) == 0


def test_a_retry_while_another_live_publication_took_its_place_is_refused(
    api_client, bearer, owner, render, publishing_settings
):
    failed = make_publication(render, status=Status.FAILED, failure_reason="error")
    make_publication(render, status=Status.QUEUED)

    response = api_client.post(publication_url(failed, "retry"), **bearer(owner))

    assert response.status_code == 409
    assert error_code(response) == "already_published"
    failed.refresh_from_db()
    assert failed.status == Status.FAILED
    assert advance_jobs(failed) == 0
    assert not failed.events.exists()


UPLOAD = {
    "upload_url": "https://youtube.test/upload/youtube/v3/videos?uploadType=resumable&upload_id=7",
    "upload_size": 700 * 1024,
    "bytes_sent": 512 * 1024,
}


def test_a_retry_after_an_auth_failure_resumes_the_stored_upload(
    api_client, bearer, owner, render, publishing_settings
):
    publication = make_publication(render, status=Status.FAILED, failure_reason="auth", **UPLOAD)

    response = api_client.post(publication_url(publication, "retry"), **bearer(owner))

    assert response.status_code == 200
    publication.refresh_from_db()
    assert (publication.status, publication.failure_reason) == (Status.QUEUED, "")
    assert (publication.upload_url, publication.upload_size, publication.bytes_sent) == (
        UPLOAD["upload_url"],
        UPLOAD["upload_size"],
        UPLOAD["bytes_sent"],
    )
    assert publication.events.get(kind="retried").payload == {"resumes_upload": True}


def test_a_retry_after_a_rejection_posts_anew(api_client, bearer, owner, render, publishing_settings):
    publication = make_publication(
        render, status=Status.FAILED, failure_reason="rejected", external_id="yt000000001", **UPLOAD
    )

    response = api_client.post(publication_url(publication, "retry"), **bearer(owner))

    assert response.status_code == 200
    publication.refresh_from_db()
    assert publication.status == Status.QUEUED
    assert (publication.upload_url, publication.upload_size, publication.bytes_sent) == ("", None, 0)
    assert publication.external_id == ""
    assert publication.events.get(kind="retried").payload == {"resumes_upload": False}


# --- Publish targets ----------------------------------------------------------------------------------------


def test_both_connected_platforms_are_listed_with_their_accounts(api_client, bearer, mocked_http, owner, tiktok):
    serve_platform_token(mocked_http, owner, "youtube", label="My Channel")
    tiktok.privacy_options = ["FOLLOWER_OF_CREATOR", "SELF_ONLY"]

    response = api_client.get(TARGETS, **bearer(owner))

    assert response.status_code == 200
    assert response.json() == [
        {
            "platform": "youtube",
            "connected": True,
            "account": "My Channel",
            "missing_scopes": [],
            "privacy_options": ["public", "unlisted", "private"],
        },
        {
            "platform": "tiktok",
            "connected": True,
            "account": "pixelpioneer",
            "missing_scopes": [],
            "privacy_options": ["FOLLOWER_OF_CREATOR", "SELF_ONLY"],
        },
    ]


def test_a_connection_without_the_posting_scope_lists_it_as_missing(
    api_client, bearer, mocked_http, owner, publishing_settings
):
    serve_platform_token(mocked_http, owner, "youtube", scopes=["openid"], label="My Channel")
    serve_platform_token(mocked_http, owner, "tiktok", scopes=["user.info.basic"], label="tiktoker")
    FakeTikTok(mocked_http)

    response = api_client.get(TARGETS, **bearer(owner))

    assert response.status_code == 200
    youtube, tiktok = response.json()
    assert (youtube["connected"], youtube["account"], youtube["missing_scopes"]) == (
        True,
        "My Channel",
        [YOUTUBE_UPLOAD_SCOPE],
    )
    assert tiktok == {
        "platform": "tiktok",
        "connected": True,
        "account": "tiktoker",
        "missing_scopes": ["video.publish"],
        "privacy_options": [],
    }


def test_tiktok_not_answering_only_leaves_its_account_and_privacy_levels_out(
    api_client, bearer, mocked_http, owner, tiktok
):
    serve_platform_token(mocked_http, owner, "youtube")
    tiktok.refuse_token = True

    response = api_client.get(TARGETS, **bearer(owner))

    assert response.status_code == 200
    assert response.json()[1] == {
        "platform": "tiktok",
        "connected": True,
        "account": None,
        "missing_scopes": [],
        "privacy_options": [],
    }


def test_platforms_not_connected_are_listed_with_the_scope_they_need(
    api_client, bearer, mocked_http, owner, publishing_settings
):
    serve_no_connection(mocked_http, owner, "youtube")
    serve_no_connection(mocked_http, owner, "tiktok")

    response = api_client.get(TARGETS, **bearer(owner))

    assert response.status_code == 200
    assert response.json() == [
        {
            "platform": "youtube",
            "connected": False,
            "account": None,
            "missing_scopes": [YOUTUBE_UPLOAD_SCOPE],
            "privacy_options": [],
        },
        {"platform": "tiktok", "connected": False, "account": None, "missing_scopes": ["video.publish"]}
        | {"privacy_options": []},
    ]


def test_clerk_down_answers_503_in_the_error_shape(
    api_client, bearer, mocked_http, owner, publishing_settings, monkeypatch
):
    waits = []
    monkeypatch.setattr("integrations.http._backoff", lambda attempt, *args, **kwargs: waits.append(attempt))
    mocked_http.get(clerk_token_url(owner, "google"), status=500, json={"errors": [{"code": "internal"}]})

    response = api_client.get(TARGETS, **bearer(owner))

    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "service_unavailable"
    assert "Clerk" in error["message"]
    assert error["request_id"]
    assert waits == [1, 2, 3]  # every retry was spent before giving up
    assert sum("/oauth_access_tokens/" in call.request.url for call in mocked_http.calls) == 4


# --- End to end through the queue -------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_publication_runs_through_the_queue_to_published(api_client, bearer, owner, render, youtube, run_queued_jobs):
    youtube.default_upload_status = "processed"
    response = api_client.post(
        PUBLICATIONS,
        {"render": str(render.pk), "platform": "youtube", "title": "Clutch #Shorts"},
        format="json",
        **bearer(owner),
    )
    assert response.status_code == 201, response.content

    run_queued_jobs()

    body = api_client.get(publication_url(response.json()["id"]), **bearer(owner)).json()
    [video_id] = youtube.videos
    assert (body["status"], body["external_id"]) == ("published", video_id)
    assert body["external_url"] == f"https://www.youtube.com/shorts/{video_id}"
    assert body["published_at"] is not None
    assert youtube.created_sessions == 1
    [session] = youtube.sessions.values()
    assert len(session["received"]) == render.output_file.size
