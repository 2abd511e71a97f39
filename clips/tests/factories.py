"""Builders for clip tests: Helix payloads, clips in the database, and real video files."""

import itertools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from django.db import connection
from django.utils import timezone

from clips.media import generate_sample_video
from clips.models import Clip
from core.locks import advisory_lock

TWITCH_API_URL = "https://api.twitch.test/helix"
TWITCH_AUTH_URL = "https://id.twitch.test/oauth2"
BROADCASTER_ID = "123456"

_sequence = itertools.count(1)


def helix_clip(clip_id: str | None = None, *, created_at: datetime | None = None, views: int = 10, **fields) -> dict:
    """A clip object exactly as Helix returns it."""
    number = next(_sequence)
    clip_id = clip_id or f"AwkwardHelplessSalamander{number}-abc"
    created_at = created_at or datetime(2026, 10, 1, tzinfo=UTC) + timedelta(hours=number)
    return {
        "id": clip_id,
        "url": f"https://clips.twitch.tv/{clip_id}",
        "embed_url": f"https://clips.twitch.tv/embed?clip={clip_id}",
        "broadcaster_id": BROADCASTER_ID,
        "broadcaster_name": "OwnerStreams",
        "creator_id": "999",
        "creator_name": "ClipperFan",
        "video_id": "",
        "game_id": "509658",
        "language": "en",
        "title": f"Clip number {number}",
        "view_count": views,
        "created_at": created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "thumbnail_url": f"https://static-cdn.jtvnw.net/{clip_id}-preview-480x272.jpg",
        "duration": 29.9,
        "vod_offset": None,
        "is_featured": False,
        **fields,
    }


def helix_page(clips: list[dict], cursor: str | None = None) -> dict:
    return {"data": clips, "pagination": {"cursor": cursor} if cursor else {}}


def make_clip(owner, **fields) -> Clip:
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


def make_video(path: Path, *, width: int = 320, height: int = 180, seconds: float = 1.0) -> Path:
    """A real H.264 MP4 (see clips.media.generate_sample_video)."""
    return generate_sample_video(path, width=width, height=height, seconds=seconds)


@contextmanager
def lock_held_elsewhere(name: str) -> Iterator[None]:
    """Hold a PostgreSQL advisory lock from another thread (so another connection), as a second worker would."""
    acquired, release = threading.Event(), threading.Event()

    def hold() -> None:
        try:
            with advisory_lock(name) as got:
                if got:
                    acquired.set()
                    release.wait(timeout=30)
        finally:
            connection.close()

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert acquired.wait(timeout=10), "the other connection could not take the lock"
        yield
    finally:
        release.set()
        thread.join(timeout=10)
