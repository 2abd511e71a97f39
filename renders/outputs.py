"""Copy a finished render from the backend's URL (Remotion's S3 bucket) into our storage."""

import tempfile
from pathlib import Path

import requests
from django.conf import settings
from django.core.files import File

from renders.models import RenderJob

CHUNK_BYTES = 1024 * 1024


class OutputCopyError(Exception):
    pass


def copy_output_into_storage(job: RenderJob) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "output.mp4"
        try:
            with requests.get(job.output_url, stream=True, timeout=settings.TWITCH_TIMEOUT_SECONDS) as response:
                response.raise_for_status()
                with path.open("wb") as target:
                    for chunk in response.iter_content(CHUNK_BYTES):
                        target.write(chunk)
        except requests.RequestException as exc:
            # Raising lets the queue retry the copy later.
            raise OutputCopyError(f"Could not download the render output: {type(exc).__name__}") from exc
        with path.open("rb") as source:
            job.output_file.save(f"{job.preset.slug}-{job.pk}.mp4", File(source), save=False)
    RenderJob.objects.filter(pk=job.pk, output_file="").update(output_file=job.output_file.name)
