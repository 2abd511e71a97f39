"""A generated demo clip, so a newcomer's first local render needs no Twitch account."""

import tempfile
from pathlib import Path

from django.core.files import File
from django.utils import timezone

from accounts.models import User
from clips.layouts import layout_detection_request
from clips.media import generate_sample_video, probe_video
from clips.models import Clip, Transcript
from clips.transcripts import transcript_replace

DEMO_TITLE = "CreatorSync demo clip"
DEMO_SECONDS = 8


def demo_clip_ensure(*, owner: User) -> Clip:
    """A ready-to-render sample clip (landscape 1280x720 gameplay with a facecam corner, plus a portrait file)."""
    existing = Clip.objects.filter(owner=owner, source=Clip.Source.UPLOAD, title=DEMO_TITLE).first()
    if existing:
        _ensure_demo_transcript(existing)
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
    _ensure_demo_transcript(clip)
    layout_detection_request(clip=clip)  # as for any clip whose media is ready
    return clip


# The demo's words: its audio is a tone, so they are typed, as a creator would with PUT .../transcript/.
DEMO_WORDS = [
    "This",
    "is",
    "the",
    "CreatorSync",
    "demo",
    "clip",
    "with",
    "word",
    "by",
    "word",
    "captions",
    "ready",
    "to",
    "render",
]


def _ensure_demo_transcript(clip: Clip) -> None:
    """A ready transcript, so captions render with no speech-recognition key."""
    if Transcript.objects.filter(clip=clip, status=Transcript.Status.READY).exists():
        return
    step = (clip.media_duration or DEMO_SECONDS) / (len(DEMO_WORDS) + 1)
    words = [
        {"text": text, "start": round(step * (index + 0.5), 3), "end": round(step * (index + 1.4), 3)}
        for index, text in enumerate(DEMO_WORDS)
    ]
    transcript_replace(clip=clip, words=words, language="en")
