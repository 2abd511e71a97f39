"""A local render runs at most once at a time, stops when asked, and leaves no scratch files behind."""

import os
from pathlib import Path

import pytest
from procrastinate.contrib.django.models import ProcrastinateJob

from core.tests.concurrency import lock_held_elsewhere
from core.workdirs import work_folder, work_folders_remove_orphans
from renders import services
from renders.models import RenderJob
from renders.tests.factories import stored_render_files

# Committed rows, as other connections (locks held elsewhere) see them; nothing a run queues outlives the test.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("empty_queue")]

Status = RenderJob.Status


def test_a_second_run_of_a_job_another_worker_is_rendering_does_nothing(dispatched_local_job, media_root):
    with lock_held_elsewhere(f"render-run:{dispatched_local_job.pk}"):
        services.render_run_locally(job_id=str(dispatched_local_job.pk))

    dispatched_local_job.refresh_from_db()
    assert dispatched_local_job.status == Status.RENDERING
    assert dispatched_local_job.progress == 0
    assert stored_render_files(media_root) == []


def test_running_a_job_twice_renders_it_once_and_never_replaces_its_output(dispatched_local_job, media_root):
    services.render_run_locally(job_id=str(dispatched_local_job.pk))
    dispatched_local_job.refresh_from_db()
    first_output = dispatched_local_job.output_file.name

    services.render_run_locally(job_id=str(dispatched_local_job.pk))

    dispatched_local_job.refresh_from_db()
    assert dispatched_local_job.status == Status.SUCCEEDED
    assert dispatched_local_job.output_file.name == first_output
    assert stored_render_files(media_root) == [first_output]
    assert dispatched_local_job.events.filter(kind="succeeded").count() == 1


def test_a_run_asked_to_stop_kills_ffmpeg_and_queues_the_render_again(dispatched_local_job, media_root, work_dir):
    services.render_run_locally(job_id=str(dispatched_local_job.pk), stop_requested=lambda: True)

    dispatched_local_job.refresh_from_db()
    assert dispatched_local_job.status == Status.RENDERING
    assert stored_render_files(media_root) == []
    assert dispatched_local_job.events.filter(kind="interrupted").count() == 1
    queued = ProcrastinateJob.objects.filter(task_name="renders.tasks.render_locally", status="todo")
    assert [job.args for job in queued] == [{"job_id": str(dispatched_local_job.pk)}]
    assert list(work_dir.iterdir()) == []  # the scratch folder went with the run


def test_the_queued_again_render_finishes_on_the_next_run(dispatched_local_job, media_root):
    services.render_run_locally(job_id=str(dispatched_local_job.pk), stop_requested=lambda: True)

    services.render_run_locally(job_id=str(dispatched_local_job.pk))

    dispatched_local_job.refresh_from_db()
    assert dispatched_local_job.status == Status.SUCCEEDED
    assert len(stored_render_files(media_root)) == 1


def test_scratch_folders_of_a_killed_worker_are_removed_and_live_ones_kept(work_dir):
    work_dir.mkdir(parents=True)
    dead_pid = _a_pid_that_is_not_running()
    orphan = work_dir / f"render-{dead_pid}-abc123"
    (orphan / "source").parent.mkdir(parents=True)
    (orphan / "source").write_bytes(b"a full copy of a source video")
    unrelated = work_dir / "notes"
    unrelated.mkdir()

    with work_folder("render") as live:
        removed = work_folders_remove_orphans()
        assert live.exists()

    assert removed == [orphan]
    assert not orphan.exists()
    assert unrelated.exists()


def _a_pid_that_is_not_running() -> int:
    pid = 4_000_000
    while Path(f"/proc/{pid}").exists() or pid == os.getpid():
        pid += 1
    return pid
