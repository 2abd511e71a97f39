"""The render job state machine: which transitions win, what they reset, and what they announce."""

import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone
from procrastinate.contrib.django.models import ProcrastinateJob

from renders import services
from renders.models import RenderEvent, RenderJob
from renders.signals import render_transition

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("remotion_settings")]

DISPATCH_TASK = "renders.tasks.dispatch_render"
LAYOUT = {"trim_start": 0.0, "trim_end": 3.0, "aspect": "9:16", "layout": "fill"}
STATUSES = [choice.value for choice in RenderJob.Status]

# Each transition function, the statuses it may start from, and where it leads.
TRANSITIONS = {
    "cancel": (lambda job: services.render_job_cancel(job=job), {"queued", "rendering"}, "cancelled"),
    "retry": (lambda job: services.render_job_retry(job=job), {"failed", "cancelled"}, "queued"),
    "succeed": (
        lambda job: services.render_mark_succeeded(job=job, source=RenderEvent.Source.WORKER),
        {"queued", "rendering"},
        "succeeded",
    ),
    "fail": (
        lambda job: services.render_mark_failed(
            job=job, source=RenderEvent.Source.WORKER, reason=RenderJob.FailureReason.ERROR, message="boom"
        ),
        {"queued", "rendering"},
        "failed",
    ),
}


@pytest.fixture
def transitions():
    """Every render_transition sent while the test runs, as the keyword arguments it carried."""
    sent = []

    def receiver(sender, **kwargs):
        sent.append({key: kwargs[key] for key in ("job_id", "old_status", "new_status", "source")})

    render_transition.connect(receiver, weak=False, dispatch_uid="test_state_machine.receiver")
    yield sent
    render_transition.disconnect(dispatch_uid="test_state_machine.receiver")


def dispatches_for(job: RenderJob) -> int:
    return ProcrastinateJob.objects.filter(task_name=DISPATCH_TASK, args={"job_id": str(job.pk)}).count()


def queued_jobs_seen_by_another_connection() -> int:
    """What a worker would see: the queue as committed, read on a connection of its own."""
    seen = []

    def count() -> None:
        try:
            seen.append(ProcrastinateJob.objects.count())
        finally:
            connection.close()

    thread = threading.Thread(target=count)
    thread.start()
    thread.join(timeout=10)
    return seen[0]


def event_log(job: RenderJob) -> list[tuple[str, str]]:
    return list(job.events.order_by("id").values_list("kind", "source"))


@pytest.mark.parametrize("start", STATUSES)
@pytest.mark.parametrize("name", sorted(TRANSITIONS))
def test_a_transition_wins_only_from_the_states_it_is_allowed_from(new_job, name, start):
    function, allowed, target = TRANSITIONS[name]
    job = new_job(start)

    won = function(job)

    job.refresh_from_db()
    assert won is (start in allowed)
    assert job.status == (target if won else start)


@pytest.mark.parametrize("start", ["queued", "rendering"])
def test_a_queued_or_rendering_job_can_be_cancelled(new_job, start):
    job = new_job(start)

    assert services.render_job_cancel(job=job) is True

    job.refresh_from_db()
    assert job.status == "cancelled"
    assert job.failure_reason == "cancelled"
    assert job.finished_at is not None


@pytest.mark.parametrize("final", ["succeeded", "failed", "cancelled"])
def test_a_final_job_cannot_be_cancelled_and_keeps_its_state(new_job, final):
    job = new_job(final, failure_reason="", finished_at=timezone.now() - timedelta(minutes=1))
    finished_at = job.finished_at

    assert services.render_job_cancel(job=job) is False

    job.refresh_from_db()
    assert job.status == final
    assert job.finished_at == finished_at


@pytest.mark.parametrize("start", ["queued", "rendering", "succeeded"])
def test_only_failed_or_cancelled_jobs_can_be_retried(new_job, start):
    job = new_job(start)

    assert services.render_job_retry(job=job) is False

    job.refresh_from_db()
    assert job.status == start
    assert dispatches_for(job) == 1  # only the one queued at creation


def test_a_retry_resets_the_job_and_queues_a_dispatch(new_job):
    long_ago = timezone.now() - timedelta(hours=2)
    job = new_job(
        "failed",
        failure_reason="error",
        error_message="Composition crashed",
        backend_render_id="render-old",
        remotion_bucket="remotionlambda-useast1-abc",
        progress=0.4,
        attempts=3,
        dispatched_at=long_ago,
        next_attempt_at=long_ago,
        finished_at=long_ago,
        last_polled_at=long_ago,
        output_url="https://remotionlambda-useast1-abc.s3.amazonaws.com/renders/render-old/out.mp4",
        deadline_at=long_ago,
    )

    assert services.render_job_retry(job=job) is True

    job.refresh_from_db()
    assert job.status == "queued"
    assert (job.failure_reason, job.error_message) == ("", "")
    assert (job.backend_render_id, job.remotion_bucket, job.output_url) == (None, "", "")
    assert (job.progress, job.attempts) == (0, 0)
    assert job.dispatched_at is job.next_attempt_at is job.finished_at is job.last_polled_at is None
    assert job.deadline_at > timezone.now()
    assert dispatches_for(job) == 2  # one at creation, one for the retry


def test_progress_moves_only_forward(new_job):
    job = new_job("rendering")

    services.render_mark_progress(job=job, progress=0.5)
    services.render_mark_progress(job=job, progress=0.3)

    job.refresh_from_db()
    assert job.progress == 0.5


@pytest.mark.parametrize(("reported", "stored"), [(1.7, 1.0), (-0.2, 0.0)])
def test_progress_is_clamped_to_zero_and_one(new_job, reported, stored):
    job = new_job("rendering")

    services.render_mark_progress(job=job, progress=reported)

    job.refresh_from_db()
    assert job.progress == stored


@pytest.mark.parametrize("status", ["queued", "succeeded", "failed", "cancelled"])
def test_progress_is_only_recorded_while_rendering(new_job, status):
    job = new_job(status)

    services.render_mark_progress(job=job, progress=0.5)

    job.refresh_from_db()
    assert job.progress == 0


def test_the_transition_signal_is_sent_once_per_won_transition_with_old_and_new_status(new_job, transitions):
    job = new_job("rendering")

    services.render_job_cancel(job=job)
    services.render_job_cancel(job=job)  # lost: already cancelled
    services.render_mark_succeeded(job=job, source=RenderEvent.Source.WEBHOOK)  # lost: final
    services.render_job_retry(job=job, source=RenderEvent.Source.ADMIN)

    assert transitions == [
        {"job_id": job.pk, "old_status": "rendering", "new_status": "cancelled", "source": "api"},
        {"job_id": job.pk, "old_status": "cancelled", "new_status": "queued", "source": "admin"},
    ]


def test_creating_a_job_sends_no_transition_signal(owner, ready_clip, preset, transitions):
    services.render_job_create(owner=owner, clip=ready_clip, preset=preset, input_props=dict(LAYOUT))

    assert transitions == []


def test_every_change_appends_an_event_with_its_kind_and_source(new_job):
    job = new_job("rendering")

    services.render_mark_failed(
        job=job, source=RenderEvent.Source.WEBHOOK, reason=RenderJob.FailureReason.TIMEOUT, message="late"
    )
    services.render_mark_succeeded(job=job, source=RenderEvent.Source.POLL)
    services.render_job_retry(job=job)
    services.render_job_cancel(job=job, source=RenderEvent.Source.ADMIN)

    assert event_log(job) == [
        ("created", "api"),
        ("failed_timeout", "webhook"),
        ("ignored_succeeded", "poll"),
        ("retried", "api"),
        ("cancelled", "admin"),
    ]


def test_a_lost_transition_logs_the_status_it_met(new_job):
    job = new_job("succeeded")

    services.render_job_cancel(job=job)

    ignored = job.events.get(kind="ignored_cancelled")
    assert ignored.source == "api"
    assert ignored.payload == {"status": "succeeded"}


@pytest.mark.django_db(transaction=True)
def test_creating_a_job_queues_exactly_one_dispatch_when_it_commits(empty_queue, owner, ready_clip, preset):
    with transaction.atomic():
        job = services.render_job_create(owner=owner, clip=ready_clip, preset=preset, input_props=dict(LAYOUT))
        assert queued_jobs_seen_by_another_connection() == 0

    assert queued_jobs_seen_by_another_connection() == 1
    assert list(ProcrastinateJob.objects.values_list("task_name", "args", "status")) == [
        (DISPATCH_TASK, {"job_id": str(job.pk)}, "todo")
    ]


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_creation_queues_nothing(empty_queue, owner, ready_clip, preset):
    class Abort(Exception):
        pass

    def create_then_abort() -> None:
        with transaction.atomic():
            services.render_job_create(owner=owner, clip=ready_clip, preset=preset, input_props=dict(LAYOUT))
            raise Abort

    with pytest.raises(Abort):
        create_then_abort()

    assert not RenderJob.objects.exists()
    assert not ProcrastinateJob.objects.exists()
