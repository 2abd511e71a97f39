"""Regenerate the README's caption stills: one 9:16 frame per caption style, burned in as a local render does."""

import subprocess
import tempfile
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

from clips.media import ffmpeg_quiet, generate_sample_video
from renders.backends.captions_ass import CAPTION_FONT_DIR, write_ass_file
from renders.backends.local import filter_path
from renders.captions import CAPTION_STYLES, DEFAULT_CAPTIONS

# Rendered at a real output size, then scaled down for the README.
RENDER_SIZE = (720, 1280)
STILL_SIZE = (270, 480)
WORDS = ["This", "is", "how", "your", "captions", "look", "on", "every", "short"]
WORD_SECONDS = 0.4
# The moment shown: the second word, after the pop animation settled.
STILL_AT = WORD_SECONDS * 1 + 0.25
OPTIONS = {
    "karaoke": {"max_words": 3, "uppercase": True},
    "pop": {"max_words": 3, "uppercase": True},
    "subtitle": {"max_words": 6, "uppercase": False},
}


class Command(BaseCommand):
    help = "Render one still per caption style (karaoke, pop, subtitle) into renders/static/renders/captions/."

    def add_arguments(self, parser):
        default = Path(settings.BASE_DIR) / "renders" / "static" / "renders" / "captions"
        parser.add_argument("--output-dir", type=Path, default=default, help=f"Default: {default}")

    def handle(self, *args, output_dir: Path, **options) -> None:
        output_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as folder:
            width, height = RENDER_SIZE
            video = generate_sample_video(Path(folder) / "sample.mp4", width=width, height=height, seconds=2)
            for style in CAPTION_STYLES:
                still = render_caption_still(video, Path(folder), output_dir / f"{style}.png", style=style)
                self.stdout.write(f"{still} ({still.stat().st_size // 1024} KB)")
        self.stdout.write(self.style.SUCCESS("Caption stills written."))


def render_caption_still(video: Path, folder: Path, target: Path, *, style: str) -> Path:
    """One frame of `video` with the sample words in `style`, scaled to STILL_SIZE, as a small PNG."""
    words = [
        {"text": text, "start": index * WORD_SECONDS, "end": (index + 0.9) * WORD_SECONDS}
        for index, text in enumerate(WORDS)
    ]
    captions = {**DEFAULT_CAPTIONS, **OPTIONS[style], "style": style, "words": words}
    ass = folder / f"{style}.ass"
    write_ass_file(ass, captions=captions, width=RENDER_SIZE[0], height=RENDER_SIZE[1])
    graph = (
        f"ass=filename={filter_path(ass)}:fontsdir={filter_path(CAPTION_FONT_DIR)},"
        f"scale={STILL_SIZE[0]}:{STILL_SIZE[1]}:flags=lanczos"
    )
    subprocess.run(
        [
            *ffmpeg_quiet(),
            "-ss",
            f"{STILL_AT:.3f}",
            "-copyts",
            "-i",
            str(video),
            "-vf",
            graph,
            "-frames:v",
            "1",
            "-update",
            "1",
            "-compression_level",
            "9",
            "-y",
            str(target),
        ],
        check=True,
        timeout=60,
    )
    return target
