"""Render outputs in storage: one file per job that has one, none left behind by cancels, retries or failed copies."""

from datetime import timedelta
from pathlib import Path

import pytest
import requests
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone
from procrastinate.contrib.django.models import ProcrastinateJob

from renders import services, tasks
from renders.limits import RenderLimitExceeded
from renders.models import RenderEvent, RenderJob, render_output_path
from renders.outputs import OutputCopyError
from renders.tests.factories import make_job, stored_render_files

pytestmark = pytest.mark.django_db

Status = RenderJob.Status
LAMBDA = RenderJob.Backend.REMOTION_LAMBDA
COPY_TASK = "renders.tasks.copy_render_output"
OUTPUT_URL = "https://remotionlambda-useast1-abc123.s3.us-east-1.amazonaws.com/renders/r1/out.mp4"
VIDEO_BYTES = b"\x00\x00\x00\x18ftypmp42" + b"rendered-video" * 100  # 1412 bytes
LIMIT = 1000


def store_output(job: RenderJob, content: bytes = VIDEO_BYTES) -> str:
    """Put an output file for the job in storage and record it on the job; returns its storage name."""
    name = default_storage.save(render_output_path(job, f"{job.preset.slug}-{job.pk}.mp4"), ContentFile(content))
    RenderJob.objects.filter(pk=job.pk).update(output_file=name)
    job.refresh_from_db()
    return name


def retry_then_fail(job: RenderJob) -> None:
    """A request that retries the job, then fails before it commits."""
    with transaction.atomic():
        assert services.render_job_retry(job=job) is True
        raise RuntimeError("the request failed after the retry")


def copy_output(job: RenderJob) -> bool:
    return services.render_output_copy(job_id=str(job.pk))


# --- A local render cancelled while ffmpeg runs ----------------------------------------------------


def test_a_local_render_cancelled_while_ffmpeg_runs_is_stopped_and_leaves_no_output_behind(
    dispatched_local_job, media_root, monkeypatch
):
    job = dispatched_local_job
    real_mark_progress = services.render_mark_progress
    cancels = []

    def progress_then_cancel(*, job, progress):
        real_mark_progress(job=job, progress=progress)
        if not cancels:
            # The user cancels while ffmpeg is still writing the output.
            cancels.append(services.render_job_cancel(job=RenderJob.objects.get(pk=job.pk)))

    monkeypatch.setattr(services, "render_mark_progress", progress_then_cancel)

    services.render_run_locally(job_id=str(job.pk))

    assert cancels == [True]
    job.refresh_from_db()
    assert job.status == Status.CANCELLED
    assert not job.output_file
    assert stored_render_files(media_root) == []
    kinds = list(job.events.values_list("kind", flat=True))
    assert "cancelled" in kinds
    # ffmpeg was stopped at the next progress report: the render never reached its end.
    assert "succeeded" not in kinds
    assert "ignored_succeeded" not in kinds


def test_a_local_render_left_alone_keeps_exactly_its_output(dispatched_local_job, media_root):
    services.render_run_locally(job_id=str(dispatched_local_job.pk))

    dispatched_local_job.refresh_from_db()
    assert dispatched_local_job.status == Status.SUCCEEDED
    assert stored_render_files(media_root) == [dispatched_local_job.output_file.name]


# --- Retrying a job that has an output ----------------------------------------------------------


@pytest.fixture
def failed_job_with_output(owner, clip, preset, media_root) -> RenderJob:
    job = make_job(
        owner,
        clip,
        preset,
        backend=LAMBDA,
        status=Status.FAILED,
        failure_reason="error",
        finished_at=timezone.now(),
        age=timedelta(days=2),
    )
    store_output(job)
    return job


def test_a_retry_deletes_the_earlier_output_once_it_commits(
    failed_job_with_output, media_root, django_capture_on_commit_callbacks
):
    job = failed_job_with_output
    earlier = job.output_file.name
    created_at = job.created_at
    before = timezone.now()

    with django_capture_on_commit_callbacks(execute=True):
        assert services.render_job_retry(job=job) is True
        assert default_storage.exists(earlier)  # not yet: the retry could still roll back

    assert not default_storage.exists(earlier)
    assert stored_render_files(media_root) == []
    job.refresh_from_db()
    assert job.status == Status.QUEUED
    assert not job.output_file
    assert job.created_at == created_at
    assert before <= job.requeued_at <= timezone.now()


def test_a_retry_rolled_back_keeps_the_earlier_output(
    failed_job_with_output, media_root, django_capture_on_commit_callbacks
):
    job = failed_job_with_output
    earlier = job.output_file.name
    with django_capture_on_commit_callbacks(execute=True) as callbacks, pytest.raises(RuntimeError):
        retry_then_fail(job)

    assert callbacks == []
    assert stored_render_files(media_root) == [earlier]
    job.refresh_from_db()
    assert (job.status, job.requeued_at) == (Status.FAILED, None)


def test_a_retry_refused_by_the_render_limits_keeps_the_earlier_output(
    failed_job_with_output, media_root, settings, django_capture_on_commit_callbacks
):
    settings.FEATURE_FLAG_DEFAULTS = {settings.RENDER_LIMITS_FLAG: {"enabled": True, "payload": {"monthly_renders": 0}}}
    job = failed_job_with_output

    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RenderLimitExceeded):
        services.render_job_retry(job=job)

    assert stored_render_files(media_root) == [job.output_file.name]


# --- Copying Remotion's output into storage --------------------------------------------------------


@pytest.fixture
def output_settings(settings, media_root):
    settings.RENDER_OUTPUT_MAX_BYTES = LIMIT
    settings.RENDER_OUTPUT_TIMEOUT_SECONDS = 7.5
    settings.TWITCH_TIMEOUT_SECONDS = 10.0  # what the copy used to wait: it must not any more
    return settings


@pytest.fixture
def succeeded_job(owner, clip, preset, output_settings) -> RenderJob:
    """Succeeded on Lambda: its output still sits in Remotion's bucket."""
    return make_job(
        owner, clip, preset, backend=LAMBDA, status=Status.SUCCEEDED, output_url=OUTPUT_URL, finished_at=timezone.now()
    )


def assert_nothing_copied(job: RenderJob, media_root: Path) -> None:
    job.refresh_from_db()
    assert not job.output_file
    assert stored_render_files(media_root) == []
    assert not job.events.filter(kind="output_copied").exists()


def test_a_copied_output_is_stored_with_its_bytes(mocked_http, succeeded_job, media_root, owner):
    mocked_http.get(OUTPUT_URL, body=b"x" * LIMIT, content_type="video/mp4", auto_calculate_content_length=True)

    assert copy_output(succeeded_job) is True

    succeeded_job.refresh_from_db()
    assert succeeded_job.output_file.name.startswith(f"renders/{owner.pk}/{succeeded_job.pk}/")
    with succeeded_job.output_file.open("rb") as stored:
        assert stored.read() == b"x" * LIMIT  # exactly the limit is allowed
    assert stored_render_files(media_root) == [succeeded_job.output_file.name]
    assert succeeded_job.events.filter(kind="output_copied", source=RenderEvent.Source.WORKER).count() == 1


def test_the_copy_waits_as_long_as_its_own_timeout_setting(mocked_http, succeeded_job):
    mocked_http.get(OUTPUT_URL, body=VIDEO_BYTES[:LIMIT])

    copy_output(succeeded_job)

    (call,) = mocked_http.calls
    assert call.request.req_kwargs["timeout"] == 7.5
    assert call.request.req_kwargs["stream"] is True


def test_a_copy_that_times_out_fails_for_the_queue_to_retry_and_stores_nothing(mocked_http, succeeded_job, media_root):
    mocked_http.get(OUTPUT_URL, body=requests.ReadTimeout("read timed out"))

    with pytest.raises(OutputCopyError, match="ReadTimeout"):
        copy_output(succeeded_job)

    assert mocked_http.calls[0].request.req_kwargs["timeout"] == 7.5
    assert_nothing_copied(succeeded_job, media_root)


def test_an_output_declared_larger_than_the_limit_is_refused_before_it_is_read(mocked_http, succeeded_job, media_root):
    # The header alone decides: the few bytes sent would pass the streamed count.
    mocked_http.get(OUTPUT_URL, body=b"x" * 10, headers={"Content-Length": str(LIMIT + 1)})

    with pytest.raises(OutputCopyError, match="larger than the 1000 bytes limit"):
        copy_output(succeeded_job)

    assert_nothing_copied(succeeded_job, media_root)


def test_an_output_streamed_past_the_limit_without_a_length_is_cut_off(mocked_http, succeeded_job, media_root):
    mocked_http.get(OUTPUT_URL, body=b"x" * (LIMIT + 1))

    with pytest.raises(OutputCopyError, match="larger than the 1000 bytes limit"):
        copy_output(succeeded_job)

    assert "Content-Length" not in mocked_http.calls[0].response.headers
    assert_nothing_copied(succeeded_job, media_root)


def test_a_copy_that_loses_to_a_concurrent_copy_deletes_its_own_file(mocked_http, succeeded_job, media_root):
    theirs = []

    def another_copy_finishes_first(request):
        theirs.append(store_output(RenderJob.objects.get(pk=succeeded_job.pk), b"their copy"))
        return 200, {}, VIDEO_BYTES[:LIMIT]

    mocked_http.add_callback("GET", OUTPUT_URL, callback=another_copy_finishes_first)

    copy_output(succeeded_job)

    succeeded_job.refresh_from_db()
    assert succeeded_job.output_file.name == theirs[0]
    assert stored_render_files(media_root) == theirs


@pytest.mark.django_db(transaction=True)
def test_an_oversize_output_is_left_to_the_queues_retries(
    run_queued_jobs, mocked_http, owner, clip, preset, output_settings
):
    # run_queued_jobs comes first: it empties the queue tables before the copy is queued.
    mocked_http.get(OUTPUT_URL, body=b"x" * (LIMIT + 1))
    job = make_job(owner, clip, preset, backend=LAMBDA, status=Status.RENDERING)
    services.render_mark_succeeded(job=job, source=RenderEvent.Source.WEBHOOK, output_url=OUTPUT_URL)

    run_queued_jobs(queues=[tasks.copy_render_output.queue])

    copy = ProcrastinateJob.objects.get(task_name=COPY_TASK, args={"job_id": str(job.pk)})
    assert (copy.status, copy.attempts) == ("todo", 1)
    assert copy.scheduled_at > timezone.now()
    assert_nothing_copied(job, output_settings.MEDIA_ROOT)
