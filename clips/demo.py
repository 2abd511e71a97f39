"""A generated demo clip, so a newcomer's first local render needs no Twitch account."""

import tempfile
from pathlib import Path

from django.core.files import File
from django.utils import timezone

from accounts.models import User
from clips.media import generate_sample_video, probe_video
from clips.models import Clip

DEMO_TITLE = "CreatorSync demo clip"
DEMO_SECONDS = 8


def demo_clip_ensure(*, owner: User) -> Clip:
    """A ready-to-render sample clip (landscape 1280x720 gameplay with a facecam corner, plus a portrait file)."""
    existing = Clip.objects.filter(owner=owner, source=Clip.Source.UPLOAD, title=DEMO_TITLE).first()
    if existing:
        return existing
    clip = Clip(owner=owner, source=Clip.Source.UPLOAD, title=DEMO_TITLE, clip_created_at=timezone.now())
    with tempfile.TemporaryDirectory() as folder:
        landscape = generate_sample_video(Path(folder) / "demo.mp4", width=1280, height=720, seconds=DEMO_SECONDS)
        portrait = generate_sample_video(
            Path(folder) / "demo-portrait.mp4", width=720, height=1280, seconds=DEMO_SECONDS
        )
        info = probe_video(landscape)
        with landscape.open("rb") as source:
            clip.media_file.save("demo.mp4", File(source), save=False)
        with portrait.open("rb") as source:
            clip.portrait_file.save("demo-portrait.mp4", File(source), save=False)
        clip.media_status = Clip.MediaStatus.READY
        clip.media_duration, clip.media_width, clip.media_height = info.duration, info.width, info.height
        clip.media_size = landscape.stat().st_size
        clip.duration = round(info.duration, 1)
        clip.has_portrait = True
        clip.save()
    return clip
