"""The promise, end to end through the real queue: a stream ends, and its best clip is posted, once."""

from datetime import timedelta

import pytest
from django.utils import timezone

from automations import services
from automations.models import Automation, AutomationRun
from clips.tests.factories import LANDSCAPE_URL
from integrations.tests.fakes import (
    CLIPS_URL,
    DOWNLOADS_URL,
    EVENTSUB_SECRET,
    TWITCH_API_URL,
    eventsub_delivery,
    eventsub_payload,
    helix_clip,
    helix_downloads,
    helix_page,
    serve_clerk_twitch_token,
)
from publishing.models import Publication
from renders.models import RenderJob, RenderTemplate


@pytest.fixture
def stream_settings(settings, twitch_settings, publishing_settings, local_render_settings):
    settings.TWITCH_EVENTSUB_SECRET = EVENTSUB_SECRET
    settings.STREAM_IMPORT_DELAYS_SECONDS = [0]
    return settings


@pytest.fixture
def local_render_settings(settings, media_root):
    settings.RENDER_BACKEND = "local"
    return settings


def stream_offline(client, streamer):
    body, headers = eventsub_delivery(
        eventsub_payload("stream.offline", broadcaster_id=streamer.twitch_account.twitch_user_id)
    )
    return client.post("/webhooks/twitch/", data=body, content_type="application/json", headers=headers)


@pytest.mark.django_db(transaction=True)
def test_a_finished_stream_becomes_one_posted_short_with_no_clicks(
    client,
    streamer,
    twitch,
    stream_settings,
    youtube,
    preset,
    landscape_video,
    run_queued_jobs,
    monkeypatch,
):
    monkeypatch.setattr(services, "CHECK_BASE_SECONDS", 0)  # the run's checks come at once, not in 15 s
    youtube.default_upload_status = "processed"
    template = RenderTemplate.objects.create(
        owner=streamer,
        name="Shorts",
        preset=preset,
        props={"layout": "fill", "trim_end": 1.0},
        publish=[{"platform": "youtube", "privacy": "public", "title": "{clip_title} #shorts", "description": ""}],
    )
    Automation.objects.create(
        owner=streamer,
        name="Best clip",
        template=template,
        min_views=10,
        max_per_stream=1,
        publish=True,
        active_since=timezone.now() - timedelta(hours=3),  # on before the stream began
    )
    during_stream = timezone.now() - timedelta(hours=1)
    best = helix_clip("BestClip-1", created_at=during_stream, views=50, title="Ace on Ascent")
    weak = helix_clip("WeakClip-2", created_at=during_stream, views=5)
    twitch.get(CLIPS_URL, json=helix_page([best, weak]))
    twitch.get(f"{TWITCH_API_URL}/videos", json={"data": [], "pagination": {}})
    twitch.get(f"{TWITCH_API_URL}/games", json={"data": []})
    serve_clerk_twitch_token(twitch, streamer)
    twitch.get(DOWNLOADS_URL, json=helix_downloads("BestClip-1", landscape=LANDSCAPE_URL))
    twitch.get(LANDSCAPE_URL, body=landscape_video.read_bytes(), content_type="video/mp4")

    assert stream_offline(client, streamer).status_code == 204
    run_queued_jobs()

    [run] = AutomationRun.objects.all()
    assert (run.clip.twitch_clip_id, run.status, run.step) == ("BestClip-1", "succeeded", "done")
    [publication] = Publication.objects.all()
    assert publication.status == Publication.Status.PUBLISHED
    assert publication.title == "Ace on Ascent #shorts"
    assert publication.external_url == f"https://www.youtube.com/shorts/{publication.external_id}"
    assert len(youtube.videos) == 1

    # The stream's end is notified again (a new message) and its clips imported again: nothing twice.
    assert stream_offline(client, streamer).status_code == 204
    run_queued_jobs()
    assert AutomationRun.objects.count() == 1
    assert RenderJob.objects.count() == 1
    assert len(youtube.videos) == 1
