"""Publishing to TikTok (Direct Post) against a stateful fake of its API (HTTP edge only)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from core.tests.helpers import error_code, error_details
from publishing import services
from publishing.models import Publication
from publishing.rules import InvalidPublication
from publishing.tests.factories import make_succeeded_render
from publishing.tests.helpers import WorkerKilled, advance, kill_worker_at, run_until_final

pytestmark = pytest.mark.django_db

MiB = 1024 * 1024
Status = Publication.Status


@pytest.fixture
def big_render(owner, publishing_settings):
    """11 MiB: two TikTok chunks of 5 MiB, the last taking the remainder."""
    return make_succeeded_render(owner, size=11 * MiB)


def publish(owner, render, **fields) -> Publication:
    return services.publication_create(owner=owner, render=render, platform="tiktok", **fields)


def test_a_clean_upload_in_chunks_is_published_with_its_url(owner, big_render, tiktok):
    publication = publish(owner, big_render, title="Clutch 1v4", description="#gaming", privacy="public")

    advance(publication)

    assert publication.status == Status.PUBLISHED
    assert tiktok.published() == 1
    post = tiktok.post()
    assert publication.publish_id in tiktok.posts
    assert publication.external_id
    assert publication.external_url == (
        f"https://www.tiktok.com/@{publication.account_name}/video/{publication.external_id}"
    )
    [init] = tiktok.inits
    assert init["post_info"]["privacy_level"] == "PUBLIC_TO_EVERYONE"
    assert init["post_info"]["title"] == "Clutch 1v4\n\n#gaming"
    assert init["source_info"] == {
        "source": "FILE_UPLOAD",
        "video_size": 11 * MiB,
        "chunk_size": 5 * MiB,
        "total_chunk_count": 2,
    }
    assert post["received"] == 11 * MiB


@pytest.mark.parametrize("step", ["post_initialised", "publish_id_stored", "chunk_confirmed", "last_chunk_answered"])
def test_a_worker_killed_at_any_step_posts_at_most_once_and_ends_published(
    owner, big_render, tiktok, monkeypatch, step
):
    kill_worker_at(monkeypatch, step)
    publication = publish(owner, big_render)

    publication = run_until_final(publication)

    assert publication.status == Status.PUBLISHED
    assert tiktok.published() == 1
    assert tiktok.posts[publication.publish_id]["status"] == "PUBLISH_COMPLETE"


def test_an_unfinished_upload_is_abandoned_and_posted_anew_once(owner, big_render, tiktok, monkeypatch):
    kill_worker_at(monkeypatch, "chunk_confirmed")
    publication = publish(owner, big_render)
    with pytest.raises(WorkerKilled):
        advance(publication)
    publication.refresh_from_db()
    first_post = publication.publish_id

    advance(publication)

    assert publication.status == Status.PUBLISHED
    assert publication.publish_id != first_post
    assert tiktok.published() == 1
    assert publication.events.filter(kind="post_abandoned", payload__publish_id=first_post).exists()


def test_after_the_final_chunk_went_out_it_waits_for_tiktok_rather_than_posting_again(owner, big_render, tiktok):
    tiktok.lose_final_chunk_response = True
    publication = publish(owner, big_render)

    advance(publication)
    # The final chunk's answer was lost: the next run asks TikTok, which has the whole post.
    advance(publication)

    assert publication.status == Status.PUBLISHED
    assert len(tiktok.inits) == 1
    assert tiktok.published() == 1


def test_a_refused_token_fails_with_reason_auth(owner, big_render, tiktok):
    publication = publish(owner, big_render)
    tiktok.refuse_token = True

    advance(publication)

    assert (publication.status, publication.failure_reason) == (Status.FAILED, "auth")
    assert tiktok.published() == 0


def test_a_failed_post_fails_with_tiktoks_reason(owner, big_render, tiktok):
    tiktok.fail_publish = "frame_rate_check_failed"
    publication = publish(owner, big_render)

    advance(publication)

    assert (publication.status, publication.failure_reason) == (Status.FAILED, "rejected")
    assert "frame_rate_check_failed" in publication.error_message


def test_a_post_under_moderation_is_published_and_gets_its_id_later(owner, big_render, tiktok):
    tiktok.moderation = True
    publication = publish(owner, big_render)

    advance(publication)
    assert (publication.status, publication.external_id, publication.external_url) == (Status.PUBLISHED, "", "")
    assert publication.next_attempt_at is not None
    advance(publication)
    assert publication.external_id == ""

    tiktok.finish_moderation(publication.publish_id)
    advance(publication)
    assert publication.external_id
    assert publication.external_url.endswith(f"/video/{publication.external_id}")
    assert publication.events.filter(kind="post_id_known").count() == 1


def test_the_init_rate_limit_waits_with_backoff(owner, big_render, tiktok):
    tiktok.rate_limit_inits = 2
    publication = publish(owner, big_render)

    assert advance(publication) == services.AdvanceOutcome.WAITING
    first_wait = publication.next_attempt_at - timezone.now()
    assert publication.waiting_reason == "rate_limited"
    assert advance(publication) == services.AdvanceOutcome.WAITING
    second_wait = publication.next_attempt_at - timezone.now()

    assert timedelta(seconds=55) < first_wait <= timedelta(seconds=60)
    assert timedelta(seconds=115) < second_wait <= timedelta(seconds=120)
    advance(publication)
    assert (publication.status, publication.waiting_reason) == (Status.PUBLISHED, "")


@pytest.mark.parametrize(
    ("asked", "stored"),
    [("public", "PUBLIC_TO_EVERYONE"), ("private", "SELF_ONLY"), ("FOLLOWER_OF_CREATOR", "FOLLOWER_OF_CREATOR")],
)
def test_privacy_maps_to_tiktoks_levels(owner, big_render, tiktok, asked, stored):
    assert publish(owner, big_render, privacy=asked).privacy == stored


def test_a_privacy_tiktok_does_not_know_is_refused_naming_the_allowed_values(owner, big_render, tiktok):
    with pytest.raises(InvalidPublication) as refused:
        publish(owner, big_render, privacy="unlisted")

    assert refused.value.code == "invalid_privacy"
    assert "SELF_ONLY" in refused.value.details["allowed"]


def test_an_unaudited_app_may_only_post_privately(owner, big_render, tiktok, api_client, bearer, clerk):
    tiktok.privacy_options = ["SELF_ONLY"]

    response = api_client.post(
        "/api/publications/",
        {"render": str(big_render.pk), "platform": "tiktok", "privacy": "public"},
        format="json",
        **bearer(owner),
    )

    assert response.status_code == 400
    assert error_code(response) == "invalid_privacy"
    assert error_details(response)["allowed"] == ["SELF_ONLY"]
    assert publish(owner, big_render, privacy="private").privacy == "SELF_ONLY"


def test_a_scheduled_post_waits_until_due(owner, big_render, tiktok):
    publication = publish(owner, big_render, scheduled_at=timezone.now() + timedelta(hours=3))
    assert publication.status == Status.SCHEDULED

    assert services.publication_advance(publication_id=str(publication.pk)) == services.AdvanceOutcome.NOT_DUE
    assert tiktok.inits == []

    Publication.objects.filter(pk=publication.pk).update(next_attempt_at=timezone.now())
    services.publication_advance(publication_id=str(publication.pk))
    publication.refresh_from_db()
    assert publication.status == Status.PUBLISHED
    assert publication.events.filter(kind="due", source="scheduler").exists()


def test_a_scheduled_post_cancelled_before_due_never_posts(owner, big_render, tiktok):
    publication = publish(owner, big_render, scheduled_at=timezone.now() + timedelta(hours=3))

    assert services.publication_cancel(publication=publication)
    Publication.objects.filter(pk=publication.pk).update(next_attempt_at=timezone.now())

    assert services.publication_advance(publication_id=str(publication.pk)) == services.AdvanceOutcome.NOTHING_TO_DO
    assert tiktok.inits == []
