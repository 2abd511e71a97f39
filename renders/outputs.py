"""A finished render's output: copied from the backend's URL (Remotion's S3 bucket) into our storage,
or read as a local file (to upload it elsewhere)."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.core.files import File

from core.workdirs import local_copy, work_folder
from integrations.http import DownloadFailed, download_to_file
from renders.models import RenderJob


class OutputCopyError(Exception):
    """The copy failed this time; raising it lets the queue retry the copy later."""


class OutputTooLarge(OutputCopyError):
    pass


def copy_output_into_storage(job: RenderJob) -> None:
    """Download the job's output and record it as its output file, unless another copy got there first."""
    # Downloaded to a temporary file first: storage only ever sees a complete output.
    with output_local_file(job) as path, path.open("rb") as source:
        job.output_file.save(f"{job.preset.slug}-{job.pk}.mp4", File(source), save=False)
    ours = job.output_file.name
    if not RenderJob.objects.filter(pk=job.pk, output_file="").update(output_file=ours):
        # A concurrent copy was recorded first (or the job is gone): ours belongs to no job.
        job.output_file.storage.delete(ours)
        job.output_file.name = RenderJob.objects.filter(pk=job.pk).values_list("output_file", flat=True).first()


@contextmanager
def output_local_file(job: RenderJob) -> Iterator[Path]:
    """The job's output as a file in a work folder: our stored copy, or the backend's while it is not copied
    yet. Raises OutputCopyError (OutputTooLarge) when the download fails."""
    with work_folder("output") as folder:
        path = folder / "output.mp4"
        if job.output_file:
            local_copy(job.output_file, path)
        else:
            _download(job.output_url, path)
        yield path


def _download(url: str, path: Path) -> None:
    limit = settings.RENDER_OUTPUT_MAX_BYTES
    try:
        download_to_file(url, path, timeout=settings.RENDER_OUTPUT_TIMEOUT_SECONDS, max_bytes=limit)
    except DownloadFailed as exc:
        if exc.code == "too_large":
            raise OutputTooLarge(f"The render output is larger than the {limit} bytes limit.") from exc
        raise OutputCopyError(f"Could not download the render output: {exc}") from exc
