"""Probe video files with the ffmpeg binary that ships with imageio-ffmpeg."""

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import imageio_ffmpeg

PROBE_TIMEOUT_SECONDS = 30
AUDIO_TIMEOUT_SECONDS = 600
# Output options for every MP4 we encode: H.264 and AAC that browsers and phones play, moov atom first.
H264_MP4_OUTPUT = [
    "-c:v",
    "libx264",
    "-preset",
    "veryfast",
    "-pix_fmt",
    "yuv420p",
    "-c:a",
    "aac",
    "-movflags",
    "+faststart",
]
_DURATION = re.compile(r"Duration: (\d+):(\d{2}):(\d{2}(?:\.\d+)?)")
_VIDEO_SIZE = re.compile(r"Stream #.*?Video: .*?, (\d{2,5})x(\d{2,5})\b")


class NotAVideo(ValueError):
    """The file has no decodable video stream."""


@dataclass(frozen=True)
class VideoInfo:
    duration: float
    width: int
    height: int


def ffmpeg_path() -> str:
    return imageio_ffmpeg.get_ffmpeg_exe()


def ffmpeg_quiet() -> list[str]:
    """The start of every ffmpeg command we run: no banner, no stdin, errors only."""
    return [ffmpeg_path(), "-hide_banner", "-nostdin", "-loglevel", "error"]


def probe_video(path: Path | str) -> VideoInfo:
    """Duration and frame size of a video file; raises NotAVideo for anything else."""
    try:
        result = subprocess.run(
            [ffmpeg_path(), "-hide_banner", "-nostdin", "-i", str(path)],
            capture_output=True,
            text=True,
            errors="replace",
            timeout=PROBE_TIMEOUT_SECONDS,
        )
    except subprocess.TimeoutExpired as exc:
        raise NotAVideo("The file could not be read in time.") from exc
    size = _VIDEO_SIZE.search(result.stderr)
    duration = _DURATION.search(result.stderr)
    if not size or not duration:
        raise NotAVideo("The file is not a video ffmpeg can read.")
    hours, minutes, seconds = duration.groups()
    return VideoInfo(
        duration=int(hours) * 3600 + int(minutes) * 60 + float(seconds),
        width=int(size.group(1)),
        height=int(size.group(2)),
    )


def generate_sample_video(path: Path, *, width: int, height: int, seconds: float) -> Path:
    """Encode a real H.264 MP4: a moving test pattern, a "facecam" of colour bars in the top-right
    corner and a tone. For the demo clip and for tests; nothing is downloaded."""
    camera = max(16, width // 4) // 2 * 2
    subprocess.run(
        [
            *ffmpeg_quiet(),
            "-f",
            "lavfi",
            "-i",
            f"testsrc2=size={width}x{height}:rate=30:duration={seconds}",
            "-f",
            "lavfi",
            "-i",
            f"smptebars=size={camera}x{camera * 3 // 4 // 2 * 2}:rate=30:duration={seconds}",
            "-f",
            "lavfi",
            "-i",
            f"sine=frequency=330:duration={seconds}",
            "-filter_complex",
            "[0:v][1:v]overlay=W-w-8:8[v]",
            "-map",
            "[v]",
            "-map",
            "2:a",
            *H264_MP4_OUTPUT,
            "-y",
            str(path),
        ],
        check=True,
        timeout=120,
    )
    return path


AUDIO_CONTENT_TYPE = "audio/ogg"


def extract_audio(source: Path, target: Path, *, start: float = 0.0, seconds: float | None = None) -> Path:
    """Write the source's audio as mono 16 kHz Opus at 32 kbit/s (about 0.25 MB a minute), for recognition.

    Raises NotAVideo when the file has no audio ffmpeg can read.
    """
    window = ["-ss", f"{start:.3f}"] + (["-t", f"{seconds:.3f}"] if seconds is not None else [])
    result = subprocess.run(
        [
            *ffmpeg_quiet(),
            *window,
            "-i",
            str(source),
            "-vn",
            "-ac",
            "1",
            "-ar",
            "16000",
            "-c:a",
            "libopus",
            "-b:a",
            "32k",
            "-y",
            str(target),
        ],
        capture_output=True,
        text=True,
        errors="replace",
        timeout=AUDIO_TIMEOUT_SECONDS,
    )
    if result.returncode != 0 or not target.exists() or target.stat().st_size == 0:
        raise NotAVideo(f"No audio could be extracted: {result.stderr.strip()[-300:]}")
    return target


def frame_with_boxes(source: Path, target: Path, *, at_seconds: float, boxes: list[tuple[dict, str]]) -> Path:
    """A PNG of one frame, 480 px wide, with normalised rectangles ({x, y, width, height}) outlined in colours."""
    draws = [
        f"drawbox=x=iw*{rect['x']:.4f}:y=ih*{rect['y']:.4f}:w=iw*{rect['width']:.4f}:h=ih*{rect['height']:.4f}"
        f":color={color}:t=4"
        for rect, color in boxes
    ]
    result = subprocess.run(
        [
            *ffmpeg_quiet(),
            "-ss",
            f"{max(at_seconds, 0):.3f}",
            "-i",
            str(source),
            "-frames:v",
            "1",
            "-vf",
            ",".join(["scale=480:-2", *draws]),
            "-y",
            str(target),
        ],
        capture_output=True,
        text=True,
        errors="replace",
        timeout=PROBE_TIMEOUT_SECONDS,
    )
    if result.returncode != 0 or not target.exists():
        raise NotAVideo(f"No frame could be read: {result.stderr.strip()[-300:]}")
    return target
