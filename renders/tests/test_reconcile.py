"""Reconciliation, the backstop for lost webhooks, dead dispatches and runaway renders; and the output copy."""

import io
from datetime import timedelta
from decimal import Decimal

import pytest
import requests
from botocore.exceptions import ClientError
from django.core.management import call_command
from django.utils import timezone
from procrastinate.contrib.django import app as queue_app
from procrastinate.contrib.django.models import ProcrastinateJob

from integrations.tests.fakes import REMOTION_BUCKET
from renders import services, tasks
from renders.models import RenderEvent, RenderJob
from renders.outputs import OutputCopyError

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("reconcile_settings")]

DISPATCH_TASK = "renders.tasks.dispatch_render"
COPY_TASK = "renders.tasks.copy_render_output"
POLL_AFTER = 120
POLL_INTERVAL = 60
DISPATCH_TIMEOUT = 300
VIDEO_BYTES = b"\x00\x00\x00\x18ftypmp42" + b"rendered-video" * 100


@pytest.fixture
def reconcile_settings(remotion_settings):
    remotion_settings.RENDER_POLL_AFTER_SECONDS = POLL_AFTER
    remotion_settings.RENDER_POLL_INTERVAL_SECONDS = POLL_INTERVAL
    remotion_settings.RENDER_DISPATCH_TIMEOUT_SECONDS = DISPATCH_TIMEOUT
    return remotion_settings


def ago(seconds: float):
    return timezone.now() - timedelta(seconds=seconds)


@pytest.fixture
def dispatched_job(new_job):
    """`dispatched_job(dispatched_ago, render_id)`: a job rendering on Lambda, dispatched `dispatched_ago` seconds ago.

    With `render_id=None` the dispatch never reported back.
    """
    render_ids = iter(f"render-{number}" for number in range(1, 100))

    def make(dispatched_ago: float, *, render_id: str | None = "auto", **fields) -> RenderJob:
        render_id = next(render_ids) if render_id == "auto" else render_id
        return new_job(
            "rendering",
            backend_render_id=render_id,
            remotion_bucket=REMOTION_BUCKET if render_id else "",
            dispatched_at=ago(dispatched_ago),
            **fields,
        )

    return make


@pytest.fixture
def silent_job(dispatched_job) -> RenderJob:
    """Rendering on Lambda for longer than RENDER_POLL_AFTER_SECONDS, and no webhook came."""
    return dispatched_job(POLL_AFTER + 30)


def progress_answer(render_id: str, **fields) -> dict:
    """A `type: status` answer as the Remotion function gives it."""
    return {
        "type": "success",
        "renderId": render_id,
        "chunks": 4,
        "done": False,
        "overallProgress": 0.42,
        "outputFile": None,
        "fatalErrorEncountered": False,
        "errors": [],
        "costs": {"accruedSoFar": 0.004, "displayCost": "$0.004", "currency": "USD", "disclaimer": "estimate"},
        "timeToFinish": None,
        **fields,
    }


def done_answer(render_id: str) -> dict:
    return progress_answer(
        render_id,
        done=True,
        overallProgress=1,
        outputFile=f"https://{REMOTION_BUCKET}.s3.us-east-1.amazonaws.com/renders/{render_id}/out.mp4",
        costs={"accruedSoFar": 0.0123, "displayCost": "$0.0123", "currency": "USD", "disclaimer": "estimate"},
        timeToFinish=23456,
        outputSizeInBytes=1234567,
    )


def fatal_answer(render_id: str) -> dict:
    return progress_answer(
        render_id,
        fatalErrorEncountered=True,
        errors=[
            {"message": "Chunk 2 crashed: out of memory", "name": "Error", "stack": "...", "isFatal": True},
            {"message": "a later error", "name": "Error", "stack": "", "isFatal": False},
        ],
    )


def dispatches_for(job: RenderJob) -> int:
    return ProcrastinateJob.objects.filter(task_name=DISPATCH_TASK, args={"job_id": str(job.pk)}).count()


def snapshot() -> tuple[list[dict], int, int]:
    """Every job row, every event and every queued job, to show a run changed nothing."""
    return (
        list(RenderJob.objects.order_by("pk").values()),
        RenderEvent.objects.count(),
        ProcrastinateJob.objects.count(),
    )


# --- Polling silent renders ---------------------------------------------------------------------


def test_a_silent_render_is_polled_through_the_sdk_with_its_render_id_and_bucket(fake_lambda, silent_job, settings):
    fake_lambda.answer(progress_answer(silent_job.backend_render_id))

    report = services.renders_reconcile()

    assert report.polled == [str(silent_job.pk)]
    (call,) = fake_lambda.calls
    assert call.function_name == settings.REMOTION_FUNCTION_NAME
    assert call.payload["type"] == "status"
    assert (call.payload["renderId"], call.payload["bucketName"]) == (silent_job.backend_render_id, REMOTION_BUCKET)


def test_a_silent_render_that_finished_is_completed_from_the_poll(fake_lambda, silent_job):
    answer = done_answer(silent_job.backend_render_id)
    fake_lambda.answer(answer)

    services.renders_reconcile()

    silent_job.refresh_from_db()
    assert silent_job.status == "succeeded"
    assert silent_job.output_url == answer["outputFile"]
    assert silent_job.cost == Decimal("0.012300")
    assert silent_job.events.filter(kind="succeeded", source="poll").count() == 1
    assert ProcrastinateJob.objects.filter(task_name=COPY_TASK, args={"job_id": str(silent_job.pk)}).count() == 1


def test_a_silent_render_that_hit_a_fatal_error_is_failed_from_the_poll(fake_lambda, silent_job):
    fake_lambda.answer(fatal_answer(silent_job.backend_render_id))

    services.renders_reconcile()

    silent_job.refresh_from_db()
    assert silent_job.status == "failed"
    assert silent_job.failure_reason == "error"
    assert silent_job.error_message == "Chunk 2 crashed: out of memory"
    assert silent_job.events.filter(kind="failed_error", source="poll").count() == 1


def test_a_silent_render_still_in_progress_gets_its_progress_and_poll_time_recorded(fake_lambda, silent_job):
    fake_lambda.answer(progress_answer(silent_job.backend_render_id, overallProgress=0.42))

    services.renders_reconcile()

    silent_job.refresh_from_db()
    assert silent_job.status == "rendering"
    assert silent_job.progress == pytest.approx(0.42)
    assert silent_job.last_polled_at is not None


def test_a_render_in_progress_is_not_polled_again_within_the_poll_interval(fake_lambda, silent_job):
    fake_lambda.answer(progress_answer(silent_job.backend_render_id))
    services.renders_reconcile()

    report = services.renders_reconcile()

    assert report.polled == []
    assert len(fake_lambda.calls) == 1


def test_a_render_in_progress_is_polled_again_once_the_interval_has_passed(fake_lambda, silent_job):
    fake_lambda.answer(
        progress_answer(silent_job.backend_render_id, overallProgress=0.3),
        progress_answer(silent_job.backend_render_id, overallProgress=0.8),
    )
    services.renders_reconcile()
    RenderJob.objects.filter(pk=silent_job.pk).update(
        last_polled_at=timezone.now() - timedelta(seconds=POLL_INTERVAL + 1)
    )

    services.renders_reconcile()

    silent_job.refresh_from_db()
    assert len(fake_lambda.calls) == 2
    assert silent_job.progress == pytest.approx(0.8)


def test_a_render_dispatched_recently_is_left_to_its_webhook(fake_lambda, dispatched_job):
    job = dispatched_job(POLL_AFTER - 30)

    report = services.renders_reconcile()

    assert report.polled == []
    assert fake_lambda.calls == []
    job.refresh_from_db()
    assert job.last_polled_at is None


def test_a_poll_that_aws_refuses_leaves_the_render_as_it_was(fake_lambda, silent_job):
    fake_lambda.answer(ClientError({"Error": {"Code": "ServiceException", "Message": "Internal"}}, "Invoke"))

    services.renders_reconcile()

    silent_job.refresh_from_db()
    assert silent_job.status == "rendering"
    assert silent_job.last_polled_at is not None


# --- Dead dispatches and overdue jobs --------------------------------------------------------------


def test_a_dispatch_that_never_reported_back_is_requeued_with_a_new_dispatch(fake_lambda, dispatched_job):
    job = dispatched_job(DISPATCH_TIMEOUT + 30, render_id=None)
    dispatches_before = dispatches_for(job)

    report = services.renders_reconcile()

    assert report.requeued == [str(job.pk)]
    job.refresh_from_db()
    assert job.status == "queued"
    assert job.dispatched_at is None
    assert job.events.filter(kind="dispatch_deferred").count() == 1
    assert dispatches_for(job) == dispatches_before + 1
    assert fake_lambda.calls == []


def test_a_dispatch_still_within_its_timeout_is_left_alone(fake_lambda, dispatched_job):
    job = dispatched_job(DISPATCH_TIMEOUT - 30, render_id=None)

    report = services.renders_reconcile()

    assert report.requeued == []
    job.refresh_from_db()
    assert job.status == "rendering"


@pytest.mark.parametrize("status", ["queued", "rendering"])
def test_a_job_past_its_deadline_is_failed_as_timed_out(fake_lambda, new_job, dispatched_job, status):
    overdue = {"deadline_at": ago(1)}
    job = dispatched_job(0, **overdue) if status == "rendering" else new_job(status, **overdue)

    report = services.renders_reconcile()

    assert report.timed_out == [str(job.pk)]
    job.refresh_from_db()
    assert job.status == "failed"
    assert job.failure_reason == "timeout"
    assert job.error_message == "The render did not finish in time."
    assert fake_lambda.calls == []


# --- Repeated and dry runs ------------------------------------------------------------------------


@pytest.fixture
def stuck_jobs(new_job, dispatched_job, fake_lambda) -> dict[str, RenderJob]:
    jobs = {
        "finished": dispatched_job(POLL_AFTER + 30),
        "in_progress": dispatched_job(POLL_AFTER + 30),
        "dead_dispatch": dispatched_job(DISPATCH_TIMEOUT + 30, render_id=None),
        "overdue": new_job("queued", deadline_at=ago(60)),
    }
    fake_lambda.answer_for(jobs["finished"].backend_render_id, done_answer(jobs["finished"].backend_render_id))
    in_progress_id = jobs["in_progress"].backend_render_id
    fake_lambda.answer_for(in_progress_id, progress_answer(in_progress_id))
    return jobs


def test_a_second_run_right_after_the_first_changes_no_job_and_logs_no_event(fake_lambda, stuck_jobs):
    services.renders_reconcile()
    jobs_after_first, events_after_first, _ = snapshot()

    report = services.renders_reconcile()

    jobs_after_second, events_after_second, _ = snapshot()
    assert (report.polled, report.requeued, report.timed_out) == ([], [], [])
    assert jobs_after_second == jobs_after_first
    assert events_after_second == events_after_first
    assert len(fake_lambda.calls) == 2


def test_a_dry_run_changes_nothing(fake_lambda, stuck_jobs):
    before = snapshot()

    call_command("reconcile_renders", "--dry-run", stdout=io.StringIO())

    assert snapshot() == before
    assert fake_lambda.calls == []


def test_a_dry_run_prints_what_it_would_do_to_each_job(fake_lambda, stuck_jobs):
    out = io.StringIO()

    call_command("reconcile_renders", "--dry-run", stdout=out)

    lines = out.getvalue().splitlines()
    assert f"would poll {stuck_jobs['finished'].pk}" in lines
    assert f"would poll {stuck_jobs['in_progress'].pk}" in lines
    assert f"would re-queue {stuck_jobs['dead_dispatch'].pk}" in lines
    assert f"would time out {stuck_jobs['overdue'].pk}" in lines
    assert lines[-1].startswith("Dry run: polled 2, re-queued 1, timed out 1")


def test_the_command_without_dry_run_applies_the_same_plan(fake_lambda, stuck_jobs):
    out = io.StringIO()

    call_command("reconcile_renders", stdout=out)

    statuses = {name: RenderJob.objects.get(pk=job.pk).status for name, job in stuck_jobs.items()}
    assert statuses == {
        "finished": "succeeded",
        "in_progress": "rendering",
        "dead_dispatch": "queued",
        "overdue": "failed",
    }
    assert f"re-queue {stuck_jobs['dead_dispatch'].pk}" in out.getvalue().splitlines()


def test_reconciliation_is_a_periodic_task_run_every_minute():
    periodic = {periodic_id: task for (_, periodic_id), task in queue_app.periodic_registry.periodic_tasks.items()}

    task = periodic["reconcile_renders"]
    assert task.cron == "* * * * *"
    assert task.task.name == tasks.reconcile_renders.name == "renders.tasks.reconcile_renders"
    assert task.task.queue == "renders"


# --- Copying the output into storage -------------------------------------------------------------


@pytest.fixture
def succeeded_job(dispatched_job) -> RenderJob:
    job = dispatched_job(30)
    services.render_mark_succeeded(
        job=job,
        source=RenderEvent.Source.WEBHOOK,
        output_url=f"https://{REMOTION_BUCKET}.s3.us-east-1.amazonaws.com/renders/{job.backend_render_id}/out.mp4",
    )
    job.refresh_from_db()
    return job


def test_the_output_is_downloaded_into_our_storage(mocked_http, succeeded_job, owner):
    mocked_http.get(succeeded_job.output_url, body=VIDEO_BYTES, content_type="video/mp4")

    assert services.render_output_copy(job_id=str(succeeded_job.pk)) is True

    succeeded_job.refresh_from_db()
    assert succeeded_job.output_file.name.startswith(f"renders/{owner.pk}/{succeeded_job.pk}/")
    with succeeded_job.output_file.open("rb") as stored:
        assert stored.read() == VIDEO_BYTES
    assert succeeded_job.events.filter(kind="output_copied", source="worker").count() == 1


def test_a_second_copy_of_the_same_output_downloads_nothing(mocked_http, succeeded_job):
    download = mocked_http.get(succeeded_job.output_url, body=VIDEO_BYTES)
    services.render_output_copy(job_id=str(succeeded_job.pk))

    assert services.render_output_copy(job_id=str(succeeded_job.pk)) is False
    assert download.call_count == 1


@pytest.mark.parametrize("status", ["rendering", "failed", "cancelled"])
def test_only_a_succeeded_job_has_its_output_copied(mocked_http, new_job, status):
    job = new_job(status, output_url=f"https://{REMOTION_BUCKET}.s3.us-east-1.amazonaws.com/renders/x/out.mp4")

    assert services.render_output_copy(job_id=str(job.pk)) is False
    assert len(mocked_http.calls) == 0


@pytest.mark.parametrize(
    "failure", [{"status": 403}, {"status": 500}, {"body": requests.ConnectionError("connection reset")}]
)
def test_a_failing_download_raises_and_stores_nothing(mocked_http, succeeded_job, failure):
    mocked_http.get(succeeded_job.output_url, **failure)

    with pytest.raises(OutputCopyError):
        services.render_output_copy(job_id=str(succeeded_job.pk))

    succeeded_job.refresh_from_db()
    assert not succeeded_job.output_file
    assert not succeeded_job.events.filter(kind="output_copied").exists()


@pytest.mark.django_db(transaction=True)
def test_a_failing_copy_is_retried_later_by_the_queue(run_queued_jobs, mocked_http, succeeded_job):
    # run_queued_jobs comes first: it empties the queue tables before the copy is queued.
    mocked_http.get(succeeded_job.output_url, status=503)

    run_queued_jobs(queues=[tasks.copy_render_output.queue])

    copy = ProcrastinateJob.objects.get(task_name=COPY_TASK, args={"job_id": str(succeeded_job.pk)})
    assert copy.status == "todo"
    assert copy.attempts == 1
    assert copy.scheduled_at > timezone.now()
