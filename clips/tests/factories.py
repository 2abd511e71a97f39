"""Builders for clip tests: clips and imports in the database, real video files, and a clip's downloads.

Helix payloads live with the other vendor fakes, in integrations/tests/fakes.py; serve_clip_downloads
puts them together for one clip.
"""

import itertools
from datetime import timedelta
from pathlib import Path

from django.core.files import File
from django.utils import timezone

from clips.media import generate_sample_video
from clips.models import Clip, ClipImport
from integrations.tests.fakes import DOWNLOADS_URL, helix_downloads, serve_clerk_twitch_token

_sequence = itertools.count(1)

LANDSCAPE_URL = "https://production.assets.clips.twitchcdn.test/landscape.mp4?sig=abc"
PORTRAIT_URL = "https://production.assets.clips.twitchcdn.test/portrait.mp4?sig=def"


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


def serve_clip_downloads(
    mock, clip: Clip, *, landscape: bytes | int | None, portrait: bytes | int | None = None
) -> None:
    """On `mock`: Clerk hands out the owner's Twitch token, Helix offers the clip's links, the CDN answers them.

    Each layout is the bytes the CDN serves at its link (LANDSCAPE_URL, PORTRAIT_URL), the HTTP status
    the link fails with, or None for no link. A second call replaces Helix's offer and the CDN's answers.
    """
    serve_clerk_twitch_token(mock, clip.owner)
    landscape_url = LANDSCAPE_URL if landscape is not None else None
    portrait_url = PORTRAIT_URL if portrait is not None else None
    mock.upsert(
        "GET", DOWNLOADS_URL, json=helix_downloads(clip.twitch_clip_id, landscape=landscape_url, portrait=portrait_url)
    )
    for url, answer in ((landscape_url, landscape), (portrait_url, portrait)):
        if url is None:
            continue
        if isinstance(answer, int):
            mock.upsert("GET", url, status=answer)
        else:
            mock.upsert("GET", url, body=answer, content_type="video/mp4")
