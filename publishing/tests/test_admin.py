"""Staff views of publications: the changelist and its filters, the event log, and the recheck and retry actions."""

from datetime import timedelta

import pytest
from django.contrib import messages as levels
from django.utils import timezone
from procrastinate.contrib.django.models import ProcrastinateJob

from accounts.tests.factories import make_user
from core.tests.helpers import run_action, run_action_with_levels
from publishing import services
from publishing.models import Publication, PublicationEvent
from publishing.platforms.base import record
from publishing.tests.factories import make_publication, make_succeeded_render

pytestmark = pytest.mark.django_db

PUBLICATIONS = "/admin/publishing/publication/"
Status = Publication.Status


def change_url(publication: Publication) -> str:
    return f"{PUBLICATIONS}{publication.pk}/change/"


def listed(response) -> set[str]:
    """The ids of the publications on a changelist page."""
    assert response.status_code == 200
    return {str(publication.pk) for publication in response.context["cl"].result_list}


def advance_jobs(publication: Publication) -> int:
    return ProcrastinateJob.objects.filter(
        task_name=services.ADVANCE_TASK, status="todo", args__publication_id=str(publication.pk)
    ).count()


def status_of(publication: Publication) -> str:
    return Publication.objects.get(pk=publication.pk).status


def last_touched(publication: Publication, ago: timedelta, **fields) -> Publication:
    Publication.objects.filter(pk=publication.pk).update(updated_at=timezone.now() - ago, **fields)
    publication.refresh_from_db()
    return publication


@pytest.fixture
def admin_user(db):
    """The staff member `staff_client` signs in: a superuser without a password, so no slow hashing."""
    return make_user("admin", is_staff=True, is_superuser=True)


@pytest.fixture
def new_render(owner, media_root):
    """`new_render()`: another succeeded render of the owner (a few bytes: nothing uploads it)."""
    return lambda: make_succeeded_render(owner, size=64)


# --- Changelist and filters ---------------------------------------------------------------------------


def test_the_changelist_filters_by_status_and_platform(staff_client, new_render):
    wanted = make_publication(new_render(), "tiktok", status=Status.FAILED, failure_reason="auth")
    make_publication(new_render(), "youtube", status=Status.FAILED, failure_reason="error")
    make_publication(new_render(), "tiktok", status=Status.QUEUED)

    response = staff_client.get(PUBLICATIONS, {"status__exact": "failed", "platform__exact": "tiktok"})

    assert listed(response) == {str(wanted.pk)}


def test_the_changelist_loads_with_every_filter_and_a_search_at_once(staff_client, new_render):
    publication = make_publication(new_render(), status=Status.UPLOADING, waiting_reason="quota_exceeded")

    response = staff_client.get(
        PUBLICATIONS,
        {
            "stuck": "yes",
            "status__exact": "uploading",
            "platform__exact": "youtube",
            "failure_reason__exact": "",
            "waiting_reason__exact": "quota_exceeded",
            "created_at__gte": (timezone.now() - timedelta(days=7)).isoformat(),
            "q": "Clutch",
        },
    )

    assert response.status_code == 200
    assert listed(staff_client.get(PUBLICATIONS, {"q": "Clutch"})) == {str(publication.pk)}


@pytest.mark.parametrize("term", ["not-a-uuid", "owner@example.com"])
def test_a_search_for_any_text_answers(staff_client, new_render, term):
    make_publication(new_render())

    assert staff_client.get(PUBLICATIONS, {"q": term}).status_code == 200


def test_a_search_by_the_publication_or_render_id_finds_it(staff_client, new_render):
    render = new_render()
    wanted = make_publication(render)
    make_publication(new_render())

    assert listed(staff_client.get(PUBLICATIONS, {"q": str(wanted.pk)})) == {str(wanted.pk)}
    assert listed(staff_client.get(PUBLICATIONS, {"q": str(render.pk)})) == {str(wanted.pk)}


def test_the_stuck_filter_shows_active_publications_that_made_no_progress_and_wait_for_nothing(
    staff_client, new_render
):
    hour = timedelta(hours=1)
    forgotten = last_touched(make_publication(new_render(), status=Status.QUEUED), hour)
    long_overdue = last_touched(
        make_publication(new_render(), status=Status.PROCESSING), hour, next_attempt_at=timezone.now() - hour
    )
    last_touched(make_publication(new_render(), status=Status.UPLOADING), timedelta(seconds=5))  # fresh
    last_touched(  # waiting for the quota to reset: it knows what it waits for
        make_publication(new_render(), status=Status.UPLOADING, waiting_reason="quota_exceeded"),
        hour,
        next_attempt_at=timezone.now() + hour,
    )
    last_touched(  # a scheduled post, not due yet
        make_publication(new_render(), status=Status.SCHEDULED), hour, next_attempt_at=timezone.now() + hour
    )
    for final in (Status.PUBLISHED, Status.FAILED, Status.CANCELLED):
        last_touched(make_publication(new_render(), status=final), hour)

    response = staff_client.get(PUBLICATIONS, {"stuck": "yes"})

    assert listed(response) == {str(forgotten.pk), str(long_overdue.pk)}


def test_without_the_stuck_filter_every_publication_is_listed(staff_client, new_render):
    publications = [make_publication(new_render(), status=status) for status in Status.values]

    assert listed(staff_client.get(PUBLICATIONS)) == {str(publication.pk) for publication in publications}


# --- The change page --------------------------------------------------------------------------------------


def test_the_change_page_shows_the_event_log(staff_client, new_render):
    publication = make_publication(new_render(), status=Status.FAILED, failure_reason="rejected")
    record(publication, "created", PublicationEvent.Source.API)
    record(publication, "waiting", reason="quota_exceeded", until="2030-01-01T08:00:00+00:00")
    record(publication, "failed", reason="rejected", message="duplicate upload")

    response = staff_client.get(change_url(publication))

    assert response.status_code == 200
    page = response.content.decode()
    for shown in ("created", "waiting", "quota_exceeded", "duplicate upload"):
        assert shown in page
    [inline] = response.context["inline_admin_formsets"]
    assert [form.original.kind for form in inline] == ["created", "waiting", "failed"]


def test_staff_cannot_add_publications(staff_client):
    assert staff_client.get(f"{PUBLICATIONS}add/").status_code == 403


# --- Actions ----------------------------------------------------------------------------------------------


def test_recheck_queues_the_next_step_of_an_active_publication_at_once(staff_client, new_render):
    waiting = make_publication(
        new_render(),
        status=Status.UPLOADING,
        waiting_reason="quota_exceeded",
        next_attempt_at=timezone.now() + timedelta(hours=5),
    )
    published = make_publication(new_render(), status=Status.PUBLISHED, external_id="yt000000001")

    shown = run_action_with_levels(staff_client, PUBLICATIONS, "recheck", [waiting, published])

    assert shown == [(levels.SUCCESS, "Queued a re-check of 1 of 2. Skipped 1: final.")]
    waiting.refresh_from_db()
    assert (waiting.status, waiting.waiting_reason, waiting.next_attempt_at) == (Status.UPLOADING, "", None)
    assert (advance_jobs(waiting), advance_jobs(published)) == (1, 0)
    assert list(waiting.events.values_list("kind", "source")) == [("recheck_requested", "admin")]
    assert not published.events.exists()


def test_recheck_of_a_published_tiktok_still_waiting_for_its_post_id_queues_it(staff_client, new_render):
    moderated = make_publication(
        new_render(), "tiktok", status=Status.PUBLISHED, published_at=timezone.now() - timedelta(hours=1)
    )

    assert run_action(staff_client, PUBLICATIONS, "recheck", [moderated]) == ["Queued a re-check of 1 of 1."]
    assert advance_jobs(moderated) == 1


def test_recheck_of_a_post_waiting_for_its_id_checks_now_not_at_its_next_check(staff_client, new_render):
    moderated = make_publication(
        new_render(),
        "tiktok",
        status=Status.PUBLISHED,
        published_at=timezone.now() - timedelta(hours=1),
        next_attempt_at=timezone.now() + timedelta(minutes=5),
    )

    run_action(staff_client, PUBLICATIONS, "recheck", [moderated])

    moderated.refresh_from_db()
    assert moderated.next_attempt_at is None


def test_retry_sends_a_failed_publication_back_and_skips_a_published_one(staff_client, new_render):
    failed = make_publication(new_render(), status=Status.FAILED, failure_reason="error")
    published = make_publication(new_render(), status=Status.PUBLISHED, external_id="yt000000001")

    shown = run_action_with_levels(staff_client, PUBLICATIONS, "retry", [failed, published])

    assert shown == [(levels.SUCCESS, "Retried 1 of 2. Skipped 1: not failed.")]
    assert (status_of(failed), status_of(published)) == (Status.QUEUED, Status.PUBLISHED)
    assert advance_jobs(failed) == 1
    assert list(failed.events.values_list("kind", "source")) == [("retried", "admin")]


def test_retry_of_a_publication_another_one_replaced_is_refused_by_name_not_a_500(staff_client, new_render):
    render = new_render()
    replaced = make_publication(render, status=Status.FAILED, failure_reason="error")
    make_publication(render, status=Status.QUEUED)
    other_failed = make_publication(new_render(), status=Status.FAILED, failure_reason="auth")

    shown = run_action_with_levels(staff_client, PUBLICATIONS, "retry", [replaced, other_failed])

    assert len(shown) == 2
    level, message = shown[0]
    assert level == levels.ERROR
    assert message.startswith(f"{replaced}: This render is already published or being published to youtube")
    assert shown[1] == (levels.SUCCESS, "Retried 1 of 2. Refused 1: see above.")
    assert (status_of(replaced), status_of(other_failed)) == (Status.FAILED, Status.QUEUED)
