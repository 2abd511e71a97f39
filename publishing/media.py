from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from publishing.platforms.base import TryAgain
from renders.models import RenderJob
from renders.outputs import OutputCopyError, output_local_file


@contextmanager
def render_output_file(render: RenderJob) -> Iterator[Path]:
    """The render's MP4 as a local file for the upload; a failed download is tried again later."""
    try:
        with output_local_file(render) as path:
            yield path
    except OutputCopyError as exc:
        raise TryAgain(str(exc)) from exc
