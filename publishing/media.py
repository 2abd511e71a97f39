from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings

from core.workdirs import local_copy, work_folder
from integrations.http import DownloadFailed, download_to_file
from publishing.platforms.base import TryAgain
from renders.models import RenderJob


@contextmanager
def render_output_file(render: RenderJob) -> Iterator[Path]:
    """The render's MP4 as a local file for the upload: our stored copy, or the backend's while it is not copied yet."""
    with work_folder("publish") as folder:
        path = folder / "short.mp4"
        if render.output_file:
            local_copy(render.output_file, path)
        else:
            try:
                download_to_file(
                    render.output_url,
                    path,
                    timeout=settings.RENDER_OUTPUT_TIMEOUT_SECONDS,
                    max_bytes=settings.RENDER_OUTPUT_MAX_BYTES,
                )
            except DownloadFailed as exc:
                raise TryAgain(f"Could not fetch the render's video: {exc}") from exc
        yield path
