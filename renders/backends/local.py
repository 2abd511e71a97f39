"""Render with ffmpeg in the worker: real H.264 MP4s of every layout, no AWS account needed."""

import logging
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from django.conf import settings
from django.core.files import File

from clips.media import H264_MP4_OUTPUT, ffmpeg_quiet
from core.queue import defer
from core.workdirs import local_copy, work_folder
from renders.backends.base import BackendError, Progress, Started
from renders.backends.captions_ass import CAPTION_FONT_DIR, CAPTION_FONT_FILE, write_ass_file
from renders.backends.inputs import render_output_size, render_source
from renders.captions import caption_settings
from renders.layout import Rect, even
from renders.models import RenderJob, render_output_path

logger = logging.getLogger(__name__)

# The title's font after RENDER_FONT_FILE: DejaVu (wide script coverage; drawtext has no fallback font) where
# installed, else the captions' font that ships with the project, so a title is never skipped.
FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/System/Library/Fonts/Supplemental/Arial Bold.ttf",
    str(CAPTION_FONT_FILE),
)
# The title: centred, its top at 8% of the height, its size a 16th of the width.
TITLE_TOP = 0.08
PROGRESS_EVERY_SECONDS = 1.0
RENDER_TIMEOUT_SECONDS = 30 * 60


class RenderInterrupted(BackendError):
    """The render was stopped before it finished: its job ended meanwhile, or its worker is shutting down."""


class LocalBackend:
    """`start` queues the render on our own queue; the worker reports through the services."""

    def start(self, job: RenderJob) -> Started:
        defer("renders.tasks.render_locally", job_id=str(job.pk))
        return Started(render_id=f"local-{job.pk}")

    def progress(self, job: RenderJob) -> Progress:
        # The local worker reports progress itself; polling only notices a render that died.
        return Progress(done=False, progress=job.progress)


def render_job_locally(
    job: RenderJob, *, on_progress: Callable[[float], bool], should_stop: Callable[[], bool] = lambda: False
) -> str:
    """Render `job` to an MP4 in storage and return the stored file's name. Raises BackendError on failure.

    `on_progress` gets the progress about once a second and returns whether to go on; `should_stop`
    is asked after every progress line. Either one stopping kills ffmpeg and raises RenderInterrupted.
    The job row is not touched: the caller records the file only if the job is still rendering.
    """
    props = job.input_props
    source = render_source(job)
    width, height = render_output_size(job)
    with work_folder("render") as folder:
        source_path = local_copy(source, folder / "source")
        output_path = folder / "output.mp4"
        title_path = folder / "title.txt"
        # drawtext reads the title from a file, so no user text is ever parsed as filter syntax.
        title = (props.get("title") or "").strip()
        title_path.write_text(title, encoding="utf-8")
        captions_path = None
        if captions := caption_settings(props.get("captions")):
            # Captions too: their text stays in the .ass file, which the filter graph only names.
            captions_path = folder / "captions.ass"
            avoid_top = title_bottom(width=width, height=height) if title else 0
            write_ass_file(captions_path, captions=captions, width=width, height=height, avoid_top=avoid_top)
        command = ffmpeg_command(
            source=source_path,
            output=output_path,
            props=props,
            width=width,
            height=height,
            fps=job.preset.fps,
            title_file=title_path,
            captions_file=captions_path,
        )
        duration = float(props["trim_end"]) - float(props["trim_start"])
        _run(command, duration=duration, on_progress=on_progress, should_stop=should_stop)
        with output_path.open("rb") as rendered:
            return job.output_file.storage.save(
                render_output_path(job, f"{job.preset.slug}-{job.pk}.mp4"), File(rendered)
            )


def ffmpeg_command(
    *,
    source: Path,
    output: Path,
    props: dict,
    width: int,
    height: int,
    fps: int,
    title_file: Path,
    captions_file: Path | None = None,
) -> list[str]:
    start, end = float(props["trim_start"]), float(props["trim_end"])
    graph = _filter_graph(
        props, width=width, height=height, fps=fps, title_file=title_file, captions_file=captions_file
    )
    return [
        *ffmpeg_quiet(),
        "-ss",
        f"{start:.3f}",
        "-t",
        f"{end - start:.3f}",
        "-i",
        str(source),
        "-filter_complex",
        graph,
        "-map",
        "[out]",
        "-map",
        "0:a?",
        *H264_MP4_OUTPUT,
        "-progress",
        "pipe:1",
        "-y",
        str(output),
    ]


def _filter_graph(
    props: dict, *, width: int, height: int, fps: int, title_file: Path, captions_file: Path | None = None
) -> str:
    layout = props.get("layout", "fill")
    fill = f"scale={width}:{height}:force_original_aspect_ratio=increase,crop={width}:{height}"
    if layout in ("fill", "portrait"):
        chains = [f"[0:v]{_focused_fill(props.get('focus'), width=width, height=height)},setsar=1[framed]"]
    elif layout == "fit_blur":
        chains = [
            "[0:v]split=2[bgsrc][fgsrc]",
            f"[bgsrc]{fill},boxblur=20:2[bg]",
            f"[fgsrc]scale={width}:{height}:force_original_aspect_ratio=decrease[fg]",
            "[bg][fg]overlay=(W-w)/2:(H-h)/2,setsar=1[framed]",
        ]
    elif layout == "split":
        facecam_height = even(height * float(props["facecam_share"]))
        gameplay_height = height - facecam_height
        chains = [
            "[0:v]split=2[camsrc][gamesrc]",
            f"[camsrc]{_crop(Rect.from_spec(props['facecam']))},"
            f"scale={width}:{facecam_height}:force_original_aspect_ratio=increase,crop={width}:{facecam_height}[cam]",
            f"[gamesrc]{_crop(Rect.from_spec(props['gameplay']))},"
            f"scale={width}:{gameplay_height}:force_original_aspect_ratio=increase,crop={width}:{gameplay_height}[game]",
            "[cam][game]vstack=inputs=2,setsar=1[framed]",
        ]
    else:
        raise BackendError(f"Unknown layout {layout!r}.", retryable=False)
    title = (props.get("title") or "").strip()
    last = f"fps={fps},format=yuv420p"
    if captions_file is not None:
        # After the title (which stays on top at 8%): the captions keep clear of its band (see title_bottom).
        last = f"{_ass(captions_file)},{last}"
    if title and (font := _font_file()):
        last = f"{_drawtext(title_file, font, _title_size(width))},{last}"
    elif title:
        logger.warning("No font found for the title; set RENDER_FONT_FILE. Rendering without it.")
    chains.append(f"[framed]{last}[out]")
    return ";".join(chains)


def _focused_fill(focus: dict | None, *, width: int, height: int) -> str:
    """Scale to cover the frame, then crop it centred on `focus` (a normalised point), kept inside the frame."""
    if not focus:
        return f"scale={width}:{height}:force_original_aspect_ratio=increase,crop={width}:{height}"
    x = f"min(max(iw*{float(focus['x']):.4f}-ow/2\\,0)\\,iw-ow)"
    y = f"min(max(ih*{float(focus['y']):.4f}-oh/2\\,0)\\,ih-oh)"
    return f"scale={width}:{height}:force_original_aspect_ratio=increase,crop={width}:{height}:{x}:{y}"


def _crop(rect: Rect) -> str:
    return f"crop=iw*{rect.width:.4f}:ih*{rect.height:.4f}:iw*{rect.x:.4f}:ih*{rect.y:.4f}"


def _title_size(width: int) -> int:
    return max(12, width // 16)


def _title_border(size: int) -> int:
    return max(2, size // 12)


def title_bottom(*, width: int, height: int) -> int:
    """The lowest row of the title's band (a line of the title font, its border and a little air), in pixels."""
    size = _title_size(width)
    return round(height * TITLE_TOP + size * 1.25 + _title_border(size))


def _drawtext(title_file: Path, font: str, size: int) -> str:
    return (
        f"drawtext=fontfile={filter_path(font)}:textfile={filter_path(title_file)}:expansion=none:fontsize={size}:"
        f"fontcolor=white:borderw={_title_border(size)}:bordercolor=black:x=(w-text_w)/2:y=h*{TITLE_TOP}"
    )


def _ass(captions_file: Path) -> str:
    # fontsdir: libass finds the captions' font in the project's own folder, whatever the machine has installed.
    return f"ass=filename={filter_path(captions_file)}:fontsdir={filter_path(CAPTION_FONT_DIR)}"


def filter_path(path: Path | str) -> str:
    """A path as a filter option's value inside a filter graph: escaped for both levels ffmpeg unescapes.

    The option parser splits `key=value` pairs on `:` and the graph parser splits filters on `,`, `;`
    and brackets; both drop quotes and backslashes and trim spaces at the ends. So each level's
    special characters get a backslash, the option's first, then the graph's.
    """
    option_value = _backslash_escape(str(path), "\\':" + _SPACES)
    return _backslash_escape(option_value, "\\'[],;" + _SPACES)


_SPACES = " \t\n\r"


def _backslash_escape(value: str, specials: str) -> str:
    return "".join(f"\\{char}" if char in specials else char for char in value)


def _font_file() -> str | None:
    for candidate in (settings.RENDER_FONT_FILE, *FONT_CANDIDATES):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


def _run(
    command: list[str], *, duration: float, on_progress: Callable[[float], bool], should_stop: Callable[[], bool]
) -> None:
    # Its own session: a signal to the worker's process group (Ctrl-C, a supervisor) must not kill ffmpeg
    # before the worker's grace period decides; the worker stops it itself.
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        _follow(process, duration=duration, on_progress=on_progress, should_stop=should_stop)
    except BaseException:
        process.kill()
        process.wait()
        raise
    stderr = process.stderr.read() if process.stderr else ""
    if process.wait() != 0:
        raise BackendError(f"ffmpeg failed: {stderr.strip()[-500:]}", retryable=False)


def _follow(
    process: subprocess.Popen,
    *,
    duration: float,
    on_progress: Callable[[float], bool],
    should_stop: Callable[[], bool],
) -> None:
    """Read ffmpeg's progress lines (about two a second) until it ends, reporting and checking as it goes."""
    last_report = 0.0
    started = time.monotonic()
    assert process.stdout is not None
    for line in process.stdout:
        key, _, value = line.strip().partition("=")
        if key == "out_time_us" and value.isdigit() and time.monotonic() - last_report >= PROGRESS_EVERY_SECONDS:
            last_report = time.monotonic()
            if not on_progress(min(0.99, int(value) / 1_000_000 / max(duration, 0.001))):
                raise RenderInterrupted("The job ended while it rendered.", retryable=False)
        if should_stop():
            raise RenderInterrupted("The worker is shutting down.")
        if time.monotonic() - started > RENDER_TIMEOUT_SECONDS:
            raise BackendError("ffmpeg took too long.", retryable=False)
