"""The analytics events of the render flows: requested, succeeded, failed and cancelled, once per real outcome."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from clips import services as clip_services
from core.tests.helpers import event_names
from integrations.tests.fakes import (
    DOWNLOADS_URL,
    clerk_event,
    clerk_user,
    clerk_user_deleted,
    helix_downloads,
    post_clerk_webhook,
    post_remotion_webhook,
    posthog_bodies,
    remotion_webhook,
    serve_clerk_twitch_token,
)
from renders.models import RenderJob

pytestmark = pytest.mark.django_db

RENDERS = "/api/renders/"
RENDER_ID = "8tq1x2k9ab"


@pytest.fixture
def rendering_job(remotion_settings, new_job) -> RenderJob:
    """A job rendering on Remotion Lambda for 30 seconds (its creation's events are not part of the test)."""
    return new_job(
        RenderJob.Status.RENDERING,
        backend_render_id=RENDER_ID,
        dispatched_at=timezone.now() - timedelta(seconds=30),
        attempts=1,
    )


def delivered(client, kind: str, job: RenderJob) -> str:
    """Deliver fixtures/remotion/<kind>.json for the job's render; return the status it was answered."""
    response = post_remotion_webhook(client, remotion_webhook(kind, render_id=RENDER_ID, job_id=str(job.pk)))
    return response.json()["status"]


# --- render requested ---------------------------------------------------------------------------


def test_a_requested_render_announces_its_preset_layout_and_length(
    api_client, bearer, owner, ready_clip, preset, local_render_settings, analytics_events, committed
):
    props = {"trim_start": 0.5, "trim_end": 2.5, "layout": "fill", "title": "GG"}

    with committed():
        response = api_client.post(
            RENDERS, {"clip": str(ready_clip.pk), "preset": preset.slug, "props": props}, format="json", **bearer(owner)
        )

    assert response.status_code == 201, response.content
    assert analytics_events() == [
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
                "caption_style": None,
                "auto_layout": False,
                "backend": "local",
            },
        )
    ]


def test_a_refused_render_request_announces_nothing(
    api_client, bearer, owner, ready_clip, preset, local_render_settings, analytics_events, committed
):
    with committed():
        response = api_client.post(
            RENDERS,
            {"clip": str(ready_clip.pk), "preset": preset.slug, "props": {"trim_end": 99}},
            format="json",
            **bearer(owner),
        )

    assert response.status_code == 400
    assert analytics_events() == []


# --- render succeeded / failed / cancelled ------------------------------------------------------


def test_a_success_webhook_delivered_three_times_announces_one_success(
    client, rendering_job, owner, analytics_events, committed
):
    with committed():
        statuses = [delivered(client, "success", rendering_job) for _ in range(3)]

    assert statuses == ["applied", "duplicate", "duplicate"]
    [(name, distinct_id, properties)] = analytics_events()
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


def test_an_error_webhook_announces_a_failure_with_its_reason(
    client, rendering_job, owner, analytics_events, committed
):
    with committed():
        for _ in range(2):
            delivered(client, "error", rendering_job)

    [(name, distinct_id, properties)] = analytics_events()
    assert (name, distinct_id) == ("render failed", owner.clerk_id)
    assert properties["reason"] == "error"
    assert properties["source"] == "webhook"
    assert properties["job_id"] == str(rendering_job.pk)
    assert "cost" not in properties


def test_a_timeout_webhook_announces_a_timeout_failure(client, rendering_job, analytics_events, committed):
    with committed():
        delivered(client, "timeout", rendering_job)

    assert [(name, properties["reason"]) for name, _, properties in analytics_events()] == [
        ("render failed", "timeout")
    ]


def test_a_failure_after_the_success_announces_nothing_more(client, rendering_job, analytics_events, committed):
    with committed():
        delivered(client, "success", rendering_job)
        delivered(client, "error", rendering_job)

    assert event_names(analytics_events()) == ["render succeeded"]


def test_cancelling_a_render_announces_the_cancellation_once(
    api_client, bearer, owner, local_render_settings, new_job, analytics_events, committed
):
    job = new_job()
    url = f"{RENDERS}{job.pk}/cancel/"

    with committed():
        assert api_client.post(url, **bearer(owner)).status_code == 200
        assert api_client.post(url, **bearer(owner)).status_code == 409

    [(name, distinct_id, properties)] = analytics_events()
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
    twitch,
    owner,
    twitch_clip,
    sample_video,
    ready_clip,
    preset,
    remotion_settings,
    analytics_events,
    committed,
):
    """Every secret the flows below handle: Clerk's keys, webhook secrets, Twitch tokens and the session token.

    `analytics_events` checks every body sent to PostHog for the fakes' secrets and tokens after the test.
    """
    cdn_url = "https://production.assets.clips.twitchcdn.test/landscape.mp4?sig=abc"
    twitch.get(DOWNLOADS_URL, json=helix_downloads(twitch_clip.twitch_clip_id, landscape=cdn_url))
    twitch.get(cdn_url, body=sample_video.read_bytes(), content_type="video/mp4")
    serve_clerk_twitch_token(twitch, owner)
    headers = bearer(owner)
    session_token = headers["HTTP_AUTHORIZATION"].removeprefix("Bearer ")
    newcomer = "user_2newcomer"

    with committed():
        post_clerk_webhook(client, clerk_event("user.created", clerk_user(newcomer, twitch=("777", "newstreams"))))
        clip_services.clip_media_fetch(clip_id=str(twitch_clip.pk))
        api_client.post(RENDERS, {"clip": str(ready_clip.pk), "preset": preset.slug}, format="json", **headers)
        job = RenderJob.objects.get()
        RenderJob.objects.filter(pk=job.pk).update(status="rendering", backend_render_id=RENDER_ID)
        delivered(client, "success", job)
        post_clerk_webhook(client, clerk_user_deleted(newcomer))

    assert event_names(analytics_events()) == [
        "twitch linked",
        "user signed up",
        "clip media fetched",
        "render requested",
        "render succeeded",
        "user deleted",
    ]
    bodies = posthog_bodies(twitch)
    assert all(session_token not in body for body in bodies)
    assert all(json.loads(body) for body in bodies)  # what was checked is what was sent
