"""Publishing to YouTube against a stateful fake of its resumable upload protocol (HTTP edge only)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from publishing import services
from publishing.models import Publication
from publishing.platforms.youtube import next_quota_reset
from publishing.tests.helpers import WorkerKilled, advance, kill_worker_at, run_until_final

pytestmark = pytest.mark.django_db

CHUNK = 256 * 1024
Status = Publication.Status


def publish(owner, render, **fields) -> Publication:
    return services.publication_create(owner=owner, render=render, platform="youtube", **fields)


def test_a_clean_upload_in_chunks_is_published_with_its_url(owner, render, youtube):
    youtube.default_upload_status = "processed"
    publication = publish(owner, render, title="Clutch 1v4 #Shorts", description="gg", privacy="unlisted")

    assert advance(publication) == services.AdvanceOutcome.PUBLISHED

    assert publication.status == Status.PUBLISHED
    [video_id] = youtube.videos
    assert publication.external_id == video_id
    assert publication.external_url == f"https://www.youtube.com/shorts/{video_id}"
    size = render.output_file.size
    assert [chunk["content_range"] for chunk in youtube.chunks()] == [
        f"bytes 0-{CHUNK - 1}/{size}",
        f"bytes {CHUNK}-{2 * CHUNK - 1}/{size}",
        f"bytes {2 * CHUNK}-{size - 1}/{size}",
    ]
    [session] = youtube.sessions.values()
    assert session["metadata"]["snippet"]["title"] == "Clutch 1v4 #Shorts"
    assert session["metadata"]["status"] == {"privacyStatus": "unlisted", "selfDeclaredMadeForKids": False}
    assert bytes(session["received"]) == render.output_file.open("rb").read()
    kinds = list(publication.events.values_list("kind", flat=True))
    assert kinds == ["created", "upload_started", "upload_session_opened", "video_created", "uploaded", "published"]


def test_the_session_uri_is_stored_before_the_first_byte(owner, render, youtube, monkeypatch):
    reached = kill_worker_at(monkeypatch, "session_stored")
    publication = publish(owner, render)

    with pytest.raises(WorkerKilled):
        advance(publication)

    publication.refresh_from_db()
    assert publication.upload_url in youtube.sessions
    assert youtube.chunks() == []
    assert reached == ["session_opened", "session_stored"]


def test_a_run_after_an_interruption_resumes_from_the_sessions_range(owner, render, youtube, monkeypatch):
    kill_worker_at(monkeypatch, "chunk_confirmed")
    youtube.default_upload_status = "processed"
    publication = publish(owner, render)
    with pytest.raises(WorkerKilled):
        advance(publication)

    advance(publication)

    assert publication.status == Status.PUBLISHED
    assert len(youtube.videos) == 1
    assert [query["status"] for query in youtube.queries()] == [308]
    # The second run asked where the session stood and sent only the rest.
    assert [chunk["content_range"].split("/")[0] for chunk in youtube.chunks()] == [
        f"bytes 0-{CHUNK - 1}",
        f"bytes {CHUNK}-{2 * CHUNK - 1}",
        f"bytes {2 * CHUNK}-{render.output_file.size - 1}",
    ]
    assert publication.events.filter(kind="upload_resumed", payload__from_byte=CHUNK).exists()


def test_a_lost_final_answer_yields_exactly_one_video_whose_id_we_learn(owner, render, youtube):
    youtube.lose_final_response = True
    youtube.default_upload_status = "processed"
    publication = publish(owner, render)

    advance(publication)

    [video_id] = youtube.videos
    assert publication.status == Status.PUBLISHED
    assert publication.external_id == video_id
    assert youtube.created_sessions == 1


@pytest.mark.parametrize(
    "step", ["session_opened", "session_stored", "chunk_confirmed", "last_chunk_answered", "video_stored"]
)
def test_a_worker_killed_at_any_step_posts_at_most_one_video_and_ends_published(
    owner, render, youtube, monkeypatch, step
):
    kill_worker_at(monkeypatch, step)
    youtube.default_upload_status = "processed"
    publication = publish(owner, render)

    publication = run_until_final(publication)

    assert publication.status == Status.PUBLISHED
    assert len(youtube.videos) == 1
    assert publication.external_id in youtube.videos


def test_an_expired_session_is_replaced_and_still_one_video(owner, render, youtube, monkeypatch):
    kill_worker_at(monkeypatch, "chunk_confirmed")
    youtube.default_upload_status = "processed"
    publication = publish(owner, render)
    with pytest.raises(WorkerKilled):
        advance(publication)
    youtube.expire_sessions()

    advance(publication)

    assert publication.status == Status.PUBLISHED
    assert youtube.created_sessions == 2
    assert len(youtube.videos) == 1
    assert publication.events.filter(kind="upload_session_expired").exists()


def test_a_refused_token_fails_with_reason_auth(owner, render, youtube):
    youtube.refuse_token = True
    publication = publish(owner, render)

    assert advance(publication) == services.AdvanceOutcome.FAILED

    assert (publication.status, publication.failure_reason) == (Status.FAILED, "auth")
    assert youtube.videos == {}


def test_an_exceeded_quota_waits_for_midnight_pacific_then_goes_on(owner, render, youtube):
    youtube.quota_exceeded = True
    publication = publish(owner, render)

    assert services.publication_advance(publication_id=str(publication.pk)) == services.AdvanceOutcome.WAITING

    publication.refresh_from_db()
    assert (publication.status, publication.waiting_reason) == (Status.UPLOADING, "quota_exceeded")
    assert abs(publication.next_attempt_at - next_quota_reset()) < timedelta(seconds=5)
    assert publication.next_attempt_at.astimezone(timezone.get_fixed_timezone(-8 * 60)).hour in (0, 1)
    # Not due: a run before the reset does nothing.
    assert services.publication_advance(publication_id=str(publication.pk)) == services.AdvanceOutcome.NOT_DUE

    youtube.quota_exceeded = False
    youtube.default_upload_status = "processed"
    advance(publication)
    assert (publication.status, publication.waiting_reason) == (Status.PUBLISHED, "")


def test_the_channels_upload_limit_waits_about_a_day(owner, render, youtube):
    youtube.upload_limit_exceeded = True
    publication = publish(owner, render)

    advance(publication)

    assert publication.waiting_reason == "upload_limit_exceeded"
    assert timedelta(hours=23) < publication.next_attempt_at - timezone.now() <= timedelta(hours=24)


def test_a_rejected_video_fails_with_youtubes_reason(owner, render, youtube):
    publication = publish(owner, render)
    assert advance(publication) == services.AdvanceOutcome.PROCESSING
    assert publication.status == Status.PROCESSING

    youtube.set_upload_status(publication.external_id, "rejected", reason="duplicate")
    advance(publication)

    assert (publication.status, publication.failure_reason) == (Status.FAILED, "rejected")
    assert "duplicate" in publication.error_message


def test_processing_is_checked_again_later_until_processed(owner, render, youtube):
    publication = publish(owner, render)

    assert advance(publication) == services.AdvanceOutcome.PROCESSING
    assert publication.next_attempt_at > timezone.now()
    assert advance(publication) == services.AdvanceOutcome.PROCESSING

    youtube.set_upload_status(publication.external_id, "processed")
    assert advance(publication) == services.AdvanceOutcome.PUBLISHED


def test_a_scheduled_public_post_is_uploaded_early_with_publish_at(owner, render, youtube, settings):
    settings.PUBLISH_YOUTUBE_UPLOAD_LEAD_SECONDS = 3600
    youtube.default_upload_status = "processed"
    at = (timezone.now() + timedelta(days=2)).replace(microsecond=0)
    publication = publish(owner, render, scheduled_at=at)
    assert publication.status == Status.SCHEDULED
    assert services.publication_advance(publication_id=str(publication.pk)) == services.AdvanceOutcome.NOT_DUE

    # An hour before the time, the upload starts: private, with publishAt, so YouTube makes it public itself.
    Publication.objects.filter(pk=publication.pk).update(scheduled_at=timezone.now() + timedelta(minutes=50))
    advance(publication)

    assert publication.status == Status.PUBLISHED
    [session] = youtube.sessions.values()
    assert session["metadata"]["status"]["privacyStatus"] == "private"
    assert session["metadata"]["status"]["publishAt"].endswith("Z")
