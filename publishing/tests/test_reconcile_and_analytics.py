"""The backstop that queues publications whose job was lost, and the analytics events of publishing."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from procrastinate.contrib.django import app as queue_app
from procrastinate.contrib.django.models import ProcrastinateJob

from core.errors import Conflict
from core.queue import defer
from core.tests.helpers import event_names
from publishing import services, tasks
from publishing.models import Publication
from publishing.rules import InvalidPublication
from publishing.tests.factories import make_publication, make_succeeded_render

pytestmark = pytest.mark.django_db

Status = Publication.Status


def advance_jobs(publication: Publication) -> list[ProcrastinateJob]:
    return list(
        ProcrastinateJob.objects.filter(
            task_name=services.ADVANCE_TASK, status="todo", args__publication_id=str(publication.pk)
        )
    )


def untouched_for(publication: Publication, ago: timedelta, **fields) -> Publication:
    Publication.objects.filter(pk=publication.pk).update(updated_at=timezone.now() - ago, **fields)
    publication.refresh_from_db()
    return publication


@pytest.fixture
def new_render(owner, publishing_settings):
    """`new_render()`: another succeeded render of the owner (a few bytes: nothing uploads it)."""
    return lambda: make_succeeded_render(owner, size=64)


# --- publications_reconcile ---------------------------------------------------------------------------


def test_an_active_publication_untouched_for_minutes_gets_a_job_and_a_fresh_one_does_not(new_render):
    lost = untouched_for(make_publication(new_render(), status=Status.QUEUED), timedelta(minutes=5))
    died_uploading = untouched_for(make_publication(new_render(), status=Status.UPLOADING), timedelta(minutes=5))
    fresh = make_publication(new_render(), status=Status.QUEUED)

    report = services.publications_reconcile()

    assert sorted(report.queued) == sorted([str(lost.pk), str(died_uploading.pk)])
    [job] = advance_jobs(lost)
    assert (job.queue_name, job.queueing_lock) == ("publishing", f"publication:{lost.pk}")
    assert len(advance_jobs(died_uploading)) == 1
    assert advance_jobs(fresh) == []


def test_final_publications_and_waits_not_due_get_no_job(new_render):
    five_minutes = timedelta(minutes=5)
    later = timezone.now() + timedelta(hours=2)
    untouched = [
        untouched_for(make_publication(new_render(), status=Status.FAILED, failure_reason="error"), five_minutes),
        untouched_for(make_publication(new_render(), status=Status.CANCELLED), five_minutes),
        untouched_for(make_publication(new_render(), status=Status.PUBLISHED, external_id="yt000000001"), five_minutes),
        untouched_for(make_publication(new_render(), status=Status.SCHEDULED), five_minutes, next_attempt_at=later),
        untouched_for(
            make_publication(new_render(), status=Status.UPLOADING, waiting_reason="quota_exceeded"),
            five_minutes,
            next_attempt_at=later,
        ),
    ]

    assert services.publications_reconcile().queued == []
    assert [advance_jobs(publication) for publication in untouched] == [[]] * len(untouched)


def test_a_due_scheduled_post_gets_a_job(new_render):
    due = untouched_for(
        make_publication(new_render(), status=Status.SCHEDULED),
        timedelta(days=1),
        next_attempt_at=timezone.now() - timedelta(seconds=30),
    )

    assert services.publications_reconcile().queued == [str(due.pk)]
    assert len(advance_jobs(due)) == 1


def test_a_published_tiktok_without_its_post_id_is_checked_for_48_hours(new_render):
    hour_ago, days_ago = timezone.now() - timedelta(hours=1), timezone.now() - timedelta(hours=49)
    moderated = make_publication(new_render(), "tiktok", status=Status.PUBLISHED, published_at=hour_ago)
    given_up = make_publication(new_render(), "tiktok", status=Status.PUBLISHED, published_at=days_ago)
    checked_soon = make_publication(
        new_render(),
        "tiktok",
        status=Status.PUBLISHED,
        published_at=hour_ago,
        next_attempt_at=timezone.now() + timedelta(minutes=4),
    )

    assert services.publications_reconcile().queued == [str(moderated.pk)]
    assert len(advance_jobs(moderated)) == 1
    assert advance_jobs(given_up) == advance_jobs(checked_soon) == []


def test_reconciling_again_while_the_job_waits_queues_no_second_job(new_render):
    lost = untouched_for(make_publication(new_render(), status=Status.QUEUED), timedelta(minutes=5))

    services.publications_reconcile()
    services.publications_reconcile()

    assert len(advance_jobs(lost)) == 1


def test_reconciliation_is_a_periodic_task_run_every_minute():
    periodic = {periodic_id: task for (_, periodic_id), task in queue_app.periodic_registry.periodic_tasks.items()}

    task = periodic["reconcile_publications"]
    assert task.cron == "* * * * *"
    assert task.task.name == tasks.reconcile_publications.name == "publishing.tasks.reconcile_publications"
    assert task.task.queue == "publishing"
    assert task.task.queueing_lock == "reconcile_publications"


@pytest.mark.django_db(transaction=True)
def test_the_periodic_task_gets_a_lost_publication_published_on_the_worker(render, youtube, run_queued_jobs):
    youtube.default_upload_status = "processed"
    lost = untouched_for(make_publication(render, status=Status.QUEUED), timedelta(minutes=5))  # its job was lost
    with transaction.atomic():
        defer("publishing.tasks.reconcile_publications", timestamp=int(timezone.now().timestamp()))

    run_queued_jobs(queues=["publishing"])

    lost.refresh_from_db()
    [video_id] = youtube.videos
    assert (lost.status, lost.external_id) == (Status.PUBLISHED, video_id)


# --- Analytics ------------------------------------------------------------------------------------------------


def second_run_during_check(monkeypatch, platform: str) -> list[services.AdvanceOutcome]:
    """The step runs twice: while one run asks the platform how the post is doing, a second run of the
    same step (as a re-delivered job would) goes all the way. Returns the second run's outcome."""
    original = services.PLATFORMS[platform].check
    second: list[services.AdvanceOutcome] = []
    started = []

    def check(publication, *, token):
        if not started:
            started.append(True)
            second.append(services.publication_advance(publication_id=str(publication.pk)))
        return original(publication, token=token)

    monkeypatch.setattr(services.PLATFORMS[platform], "check", check)
    return second


def test_a_requested_publication_is_announced_once(owner, render, tiktok, analytics_events, committed):
    at = timezone.now() + timedelta(days=1)
    with committed():
        publication = services.publication_create(
            owner=owner, render=render, platform="tiktok", privacy="private", scheduled_at=at
        )
        with pytest.raises(Conflict):  # the same request again
            services.publication_create(owner=owner, render=render, platform="tiktok", privacy="private")

    assert analytics_events() == [
        (
            "publication requested",
            owner.clerk_id,
            {
                "publication_id": str(publication.pk),
                "render_id": str(render.pk),
                "platform": "tiktok",
                "privacy": "SELF_ONLY",
                "scheduled": True,
            },
        )
    ]


def test_an_unscheduled_request_says_so(owner, render, youtube, analytics_events, committed):
    with committed():
        services.publication_create(owner=owner, render=render, platform="youtube")

    [(name, _, properties)] = analytics_events()
    assert (name, properties["platform"], properties["scheduled"]) == ("publication requested", "youtube", False)


def test_a_refused_request_announces_nothing(owner, render, youtube, analytics_events, committed):
    with committed(), pytest.raises(InvalidPublication):
        services.publication_create(owner=owner, render=render, platform="youtube", title="x" * 101)

    assert analytics_events() == []


def test_a_published_youtube_video_is_announced_once_when_its_step_runs_twice(
    owner, render, youtube, analytics_events, committed, monkeypatch
):
    with committed():
        publication = services.publication_create(owner=owner, render=render, platform="youtube")
        assert services.publication_advance(publication_id=str(publication.pk)) == "processing"
    [video_id] = youtube.videos
    youtube.set_upload_status(video_id, "processed")
    second = second_run_during_check(monkeypatch, "youtube")

    with committed():
        Publication.objects.filter(pk=publication.pk).update(next_attempt_at=None)
        first = services.publication_advance(publication_id=str(publication.pk))
        assert services.publication_advance(publication_id=str(publication.pk)) == "nothing_to_do"

    assert (first, second) == ("published", ["published"])
    published = [event for event in analytics_events() if event[0] == "render published"]
    [(_, distinct_id, properties)] = published
    assert distinct_id == owner.clerk_id
    assert properties["platform"] == "youtube"
    assert (properties["publication_id"], properties["render_id"]) == (str(publication.pk), str(render.pk))
    assert properties["scheduled"] is False
    publication.refresh_from_db()
    expected = (publication.published_at - publication.created_at).total_seconds()
    assert 0 <= properties["seconds_to_publish"] == pytest.approx(expected, abs=0.001)
    assert event_names(analytics_events()) == ["publication requested", "render published"]


def test_a_tiktok_post_whose_id_comes_later_is_announced_published_once(
    owner, render, tiktok, analytics_events, committed, monkeypatch
):
    tiktok.moderation = True
    with committed():
        publication = services.publication_create(owner=owner, render=render, platform="tiktok")
    second = second_run_during_check(monkeypatch, "tiktok")

    with committed():
        services.publication_advance(publication_id=str(publication.pk))
        publication.refresh_from_db()
        tiktok.finish_moderation(publication.publish_id)
        Publication.objects.filter(pk=publication.pk).update(next_attempt_at=None)
        services.publication_advance(publication_id=str(publication.pk))  # learns the post id

    publication.refresh_from_db()
    assert second == ["published"]
    assert (publication.status, bool(publication.external_id)) == (Status.PUBLISHED, True)
    assert event_names(analytics_events()) == ["publication requested", "render published"]
    [(_, _, properties)] = [event for event in analytics_events() if event[0] == "render published"]
    assert properties["platform"] == "tiktok"
    assert properties["seconds_to_publish"] >= 0


def test_a_failed_publication_is_announced_once_with_its_reason_when_its_step_runs_twice(
    owner, render, youtube, analytics_events, committed, monkeypatch
):
    with committed():
        publication = services.publication_create(owner=owner, render=render, platform="youtube")
        services.publication_advance(publication_id=str(publication.pk))
    [video_id] = youtube.videos
    youtube.set_upload_status(video_id, "rejected", reason="duplicate")
    second = second_run_during_check(monkeypatch, "youtube")

    with committed():
        Publication.objects.filter(pk=publication.pk).update(next_attempt_at=None)
        first = services.publication_advance(publication_id=str(publication.pk))
        assert services.publication_advance(publication_id=str(publication.pk)) == "nothing_to_do"

    assert (first, second) == ("failed", ["failed"])
    failed = [event for event in analytics_events() if event[0] == "publication failed"]
    assert failed == [
        (
            "publication failed",
            owner.clerk_id,
            {"publication_id": str(publication.pk), "platform": "youtube", "reason": "rejected"},
        )
    ]


def test_an_auth_failure_is_announced_with_reason_auth(owner, render, tiktok, analytics_events, committed):
    with committed():
        publication = services.publication_create(owner=owner, render=render, platform="tiktok")
    tiktok.refuse_token = True

    with committed():
        services.publication_advance(publication_id=str(publication.pk))
        services.publication_advance(publication_id=str(publication.pk))

    assert [
        (name, properties.get("platform"), properties.get("reason")) for name, _, properties in analytics_events()
    ] == [
        ("publication requested", "tiktok", None),
        ("publication failed", "tiktok", "auth"),
    ]
