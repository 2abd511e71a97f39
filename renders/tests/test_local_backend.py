"""The local backend: the worker renders every layout with ffmpeg into a real MP4, and reports like a webhook."""

import subprocess
from pathlib import Path

import pytest
from procrastinate.contrib.django.models import ProcrastinateJob

from clips.media import ffmpeg_path, probe_video
from clips.tests.factories import make_ready_clip
from renders import services
from renders.backends import local as local_backend
from renders.layout import output_size
from renders.models import RenderEvent, RenderJob
from renders.tests.factories import make_job, make_preset

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("local_render_settings")]

Status = RenderJob.Status
WORKER = RenderEvent.Source.WORKER
QUEUES = ("renders", "local_renders")
SPLIT = {
    "facecam": {"x": 0.75, "y": 0.0, "width": 0.25, "height": 0.25},
    "gameplay": {"x": 0.0, "y": 0.0, "width": 1.0, "height": 1.0},
    "facecam_share": 0.35,
}


def spec(**props) -> dict:
    """A validated-looking layout spec: one second of the clip unless told otherwise."""
    return {"trim_start": 0.5, "trim_end": 1.5, "aspect": "9:16", "layout": "fill", "title": "", **props}


def render(run_queued_jobs, job: RenderJob) -> RenderJob:
    run_queued_jobs(queues=list(QUEUES))
    job.refresh_from_db()
    return job


def worker_task_statuses(task_name: str) -> list[str]:
    return list(ProcrastinateJob.objects.filter(task_name=task_name).values_list("status", flat=True))


def output_path(job: RenderJob) -> Path:
    return Path(job.output_file.path)


@pytest.fixture
def create_job(owner, ready_clip, preset):
    """`create_job(**props)`: a queued job for the owner's ready clip, as the API creates it."""

    def create(clip=None, preset_=None, **props) -> RenderJob:
        return make_job(owner, clip or ready_clip, preset_ or preset, through_api=True, props=spec(**props))

    return create


@pytest.mark.parametrize(
    ("layout", "aspect", "size", "extra"),
    [
        pytest.param("fill", "9:16", (720, 1280), {}, id="fill-9:16"),
        pytest.param("fit_blur", "1:1", (720, 720), {}, id="fit_blur-1:1"),
        pytest.param("split", "4:5", (720, 900), SPLIT, id="split-4:5"),
        pytest.param("portrait", "16:9", (1280, 720), {}, id="portrait-16:9"),
        pytest.param("split", "9:16", (720, 1280), SPLIT, id="split-9:16"),
        pytest.param("portrait", "9:16", (720, 1280), {}, id="portrait-9:16"),
    ],
)
def test_each_layout_renders_an_mp4_of_the_output_size_and_trimmed_length(
    create_job, preset, run_queued_jobs, layout, aspect, size, extra
):
    job = render(run_queued_jobs, create_job(layout=layout, aspect=aspect, **extra))
    assert job.status == Status.SUCCEEDED, job.error_message
    assert output_size(preset_width=preset.width, preset_height=preset.height, aspect=aspect) == size
    video = probe_video(output_path(job))
    assert (video.width, video.height) == size
    trimmed = job.input_props["trim_end"] - job.input_props["trim_start"]
    assert video.duration == pytest.approx(trimmed, abs=0.2)


def test_a_succeeded_render_is_complete_and_says_so_from_the_worker(create_job, run_queued_jobs):
    job = render(run_queued_jobs, create_job())
    assert job.status == Status.SUCCEEDED
    assert job.progress == 1
    assert job.finished_at is not None
    assert (job.failure_reason, job.error_message) == ("", "")
    assert job.backend_render_id == f"local-{job.pk}"
    assert job.output_file.name == f"renders/{job.owner_id}/{job.pk}/{job.preset.slug}-{job.pk}.mp4"
    events = set(job.events.values_list("kind", "source"))
    assert {("dispatched", WORKER), ("succeeded", WORKER)} <= events
    assert not any(kind.startswith(("failed", "ignored")) for kind, _ in events)


def test_the_output_keeps_the_sources_audio(create_job, run_queued_jobs):
    job = render(run_queued_jobs, create_job())
    probe = subprocess.run(
        [ffmpeg_path(), "-hide_banner", "-i", str(output_path(job))], capture_output=True, text=True, check=False
    )
    assert "Audio: aac" in probe.stderr
    assert "Video: h264" in probe.stderr


def test_a_longer_trim_renders_that_length(create_job, run_queued_jobs):
    job = render(run_queued_jobs, create_job(trim_start=0.25, trim_end=2.75))
    assert job.status == Status.SUCCEEDED, job.error_message
    assert probe_video(output_path(job)).duration == pytest.approx(2.5, abs=0.2)


def test_a_larger_preset_keeps_its_short_side(owner, ready_clip, run_queued_jobs, create_job):
    square = make_preset(name="Square 480", slug="square-480", width=480, height=480, fps=24)
    job = render(run_queued_jobs, create_job(preset_=square, aspect="9:16"))
    assert job.status == Status.SUCCEEDED, job.error_message
    video = probe_video(output_path(job))
    assert (video.width, video.height) == (480, 854)


@pytest.mark.parametrize(
    "title",
    [
        'He said "no": 100% clutch \\o/ 🔥',
        "It's a 1v4 — 50%% off; [brackets] {braces} %{pts} $HOME `tick`",
        "x" * 80,
    ],
    ids=["quotes-colon-percent-backslash-emoji", "filter-syntax-and-expansions", "longest-title"],
)
def test_a_title_with_special_characters_renders(create_job, run_queued_jobs, title):
    assert local_backend._font_file(), "no font: the title would be skipped, not drawn"
    job = render(run_queued_jobs, create_job(title=title))
    assert job.status == Status.SUCCEEDED, job.error_message
    video = probe_video(output_path(job))
    assert (video.width, video.height) == (720, 1280)


def test_a_source_that_is_not_a_video_fails_the_job_with_ffmpegs_message(
    owner, preset, media_root, tmp_path, create_job, run_queued_jobs
):
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"this is definitely not a video file\n" * 100)
    clip = make_ready_clip(owner, garbage)
    job = render(run_queued_jobs, create_job(clip=clip))
    assert job.status == Status.FAILED
    assert job.failure_reason == RenderJob.FailureReason.ERROR
    assert job.error_message.startswith("ffmpeg failed:")
    assert len(job.error_message) > len("ffmpeg failed: ")
    assert not job.output_file
    assert job.events.filter(kind="failed_error", source=WORKER).exists()
    assert worker_task_statuses("renders.tasks.render_locally") == ["succeeded"]  # no exception escaped


def test_a_job_whose_clip_was_deleted_fails_without_rendering(ready_clip, create_job, run_queued_jobs):
    job = create_job()
    ready_clip.delete()
    job = render(run_queued_jobs, job)
    assert job.status == Status.FAILED
    assert job.failure_reason == RenderJob.FailureReason.ERROR
    assert "was deleted" in job.error_message
    assert worker_task_statuses("renders.tasks.render_locally") == ["succeeded"]


def test_a_clip_whose_file_vanished_from_storage_fails_the_job(ready_clip, create_job, run_queued_jobs):
    job = create_job()
    ready_clip.media_file.storage.delete(ready_clip.media_file.name)
    job = render(run_queued_jobs, job)
    assert job.status == Status.FAILED
    assert job.failure_reason == RenderJob.FailureReason.ERROR
    assert worker_task_statuses("renders.tasks.render_locally") == ["succeeded"]


def test_a_job_cancelled_before_dispatch_is_never_rendered(create_job, run_queued_jobs):
    job = create_job()
    assert services.render_job_cancel(job=job)
    job = render(run_queued_jobs, job)
    assert job.status == Status.CANCELLED
    assert not job.output_file
    assert not job.events.filter(source=WORKER).exists()
    assert worker_task_statuses("renders.tasks.render_locally") == []


def test_a_job_cancelled_after_dispatch_is_not_rendered(create_job, run_queued_jobs):
    job = create_job()
    run_queued_jobs(queues=["renders"])  # dispatched: the render waits on its own queue
    job.refresh_from_db()
    assert job.status == Status.RENDERING
    assert services.render_job_cancel(job=job)
    job = render(run_queued_jobs, job)
    assert job.status == Status.CANCELLED
    assert not job.output_file
    assert worker_task_statuses("renders.tasks.render_locally") == ["succeeded"]
    assert not job.events.filter(kind="succeeded").exists()


def test_a_cancel_that_lands_while_ffmpeg_runs_is_kept(create_job, run_queued_jobs, monkeypatch):
    job = create_job()
    real_run = local_backend._run

    def run_then_cancel(*args, **kwargs):
        real_run(*args, **kwargs)
        # The user cancels while ffmpeg runs: the cancel commits before the worker stores the output.
        services.render_job_cancel(job=RenderJob.objects.get(pk=job.pk))

    monkeypatch.setattr(local_backend, "_run", run_then_cancel)
    job = render(run_queued_jobs, job)
    assert job.events.filter(kind="cancelled").exists()
    assert job.status == Status.CANCELLED
    assert not job.events.filter(kind="succeeded").exists()


def test_progress_reported_by_the_worker_never_goes_backwards(create_job):
    job = create_job()
    RenderJob.objects.filter(pk=job.pk).update(status=Status.RENDERING)
    services.render_mark_progress(job=job, progress=0.6)
    services.render_mark_progress(job=job, progress=0.3)
    job.refresh_from_db()
    assert job.progress == 0.6
