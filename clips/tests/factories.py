"""Builders for clip tests: clips and imports in the database, and real video files.

Helix payloads live with the other vendor fakes, in integrations/tests/fakes.py.
"""

import itertools
from datetime import timedelta
from pathlib import Path

from django.core.files import File
from django.utils import timezone

from clips.media import generate_sample_video
from clips.models import Clip, ClipImport

_sequence = itertools.count(1)


def make_clip(owner, **fields) -> Clip:
    """A Twitch clip without its video; keyword arguments set its fields."""
    number = next(_sequence)
    defaults = {
        "source": Clip.Source.TWITCH,
        "twitch_clip_id": f"Clip{number}",
        "title": f"Clip {number}",
        "clip_created_at": timezone.now() - timedelta(days=number),
        "view_count": number,
        "duration": 30.0,
    }
    return Clip.objects.create(owner=owner, **{**defaults, **fields})


def make_ready_clip(owner, video: Path, *, portrait: Path | None = None, **fields) -> Clip:
    """A 3-second clip whose real video file (and portrait version, if given) sits in storage, ready to render."""
    ready = {"media_status": Clip.MediaStatus.READY, "duration": 3.0, "media_duration": 3.0}
    clip = make_clip(owner, **{**ready, **fields})
    with video.open("rb") as source:
        clip.media_file.save("source.mp4", File(source), save=False)
    if portrait:
        with portrait.open("rb") as source:
            clip.portrait_file.save("portrait.mp4", File(source), save=False)
        clip.has_portrait = True
    clip.save()
    return clip


def make_import(user, *, days: int = 7, **fields) -> ClipImport:
    """An import of the user's last `days` days of clips; keyword arguments set its fields."""
    until = timezone.now()
    return ClipImport.objects.create(user=user, since=until - timedelta(days=days), until=until, **fields)


def make_video(path: Path, *, width: int = 320, height: int = 180, seconds: float = 1.0) -> Path:
    """A real H.264 MP4 (see clips.media.generate_sample_video)."""
    return generate_sample_video(path, width=width, height=height, seconds=seconds)
