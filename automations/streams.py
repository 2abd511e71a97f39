"""Streams: noticed through EventSub, then their clips imported (twice: Helix serves clips from a cache)."""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from accounts.models import TwitchAccount
from automations import analytics
from automations.models import Stream
from clips.services import ClipError, ImportAlreadyRunning, clip_import_start
from core.queue import defer
from integrations.twitch import TwitchClient, TwitchError
from integrations.twitch.eventsub import parse_twitch_duration, parse_twitch_timestamp

logger = logging.getLogger(__name__)

IMPORT_TASK = "automations.tasks.import_stream_clips"
# A stream whose start we never heard of is taken to have lasted at most this long.
LONGEST_UNKNOWN_STREAM = timedelta(hours=24)
# Clips are made while the stream runs, and for a while after it from the VOD.
CLIP_GRACE = timedelta(hours=2)
IMPORT_BUSY_RETRY_SECONDS = 120


def _linked_account(broadcaster_user_id: str) -> TwitchAccount | None:
    """The active user who linked this broadcaster (the latest link, if several did). A user deleted in
    Clerk keeps their TwitchAccount row: their broadcaster's streams are no longer theirs."""
    return (
        TwitchAccount.objects.filter(
            twitch_user_id=broadcaster_user_id, user__is_active=True, user__deleted_at__isnull=True
        )
        .select_related("user")
        .order_by("-linked_at")
        .first()
    )


def stream_started(*, broadcaster_user_id: str, event: dict) -> Stream | None:
    account = _linked_account(broadcaster_user_id)
    if account is None:
        return None  # an orphan subscription: the daily reconciliation deletes it
    started_at = _moment(event.get("started_at")) or timezone.now()
    twitch_stream_id = str(event.get("id", ""))[:64]
    streams = Stream.objects.filter(user=account.user, broadcaster_user_id=broadcaster_user_id)
    known = streams.filter(twitch_stream_id=twitch_stream_id).first()
    if known is not None:
        return known
    # Delivered after its own stream.offline (order is not guaranteed): that stream gets its real start.
    ended_without_start = streams.filter(twitch_stream_id="", ended_at__gte=started_at).order_by("ended_at").first()
    if ended_without_start is not None:
        streams.filter(pk=ended_without_start.pk).update(twitch_stream_id=twitch_stream_id, started_at=started_at)
        return ended_without_start
    # A stream still open from before lost its stream.offline: it ended by this one's start at the latest.
    streams.filter(ended_at__isnull=True, started_at__lt=started_at).update(ended_at=started_at)
    return Stream.objects.create(
        user=account.user,
        broadcaster_user_id=broadcaster_user_id,
        twitch_stream_id=twitch_stream_id,
        started_at=started_at,
    )


def stream_ended(*, broadcaster_user_id: str, ended_at: datetime) -> Stream | None:
    """Close the broadcaster's open stream (or record one whose start we missed) and queue its imports."""
    account = _linked_account(broadcaster_user_id)
    if account is None:
        return None
    stream = (
        Stream.objects.filter(user=account.user, broadcaster_user_id=broadcaster_user_id, ended_at__isnull=True)
        .order_by("-started_at")
        .first()
    )
    if stream is None:
        # stream.online never came: the import asks Helix for the stream's archive to find its start.
        stream = Stream.objects.create(
            user=account.user, broadcaster_user_id=broadcaster_user_id, started_at=ended_at, ended_at=ended_at
        )
    else:
        Stream.objects.filter(pk=stream.pk).update(ended_at=ended_at)
        stream.ended_at = ended_at
    for delay in settings.STREAM_IMPORT_DELAYS_SECONDS:
        defer(IMPORT_TASK, delay_seconds=delay, stream_id=str(stream.pk))
    analytics.stream_ended(stream)
    return stream


def stream_import(*, stream_id: str, client: TwitchClient | None = None) -> str | None:
    """Import the clips of a stream's window with the clips import service (resumable, deduplicated).

    Returns the import's id; None when the user has an import running (queued again shortly) or
    can no longer import.
    """
    stream = Stream.objects.select_related("user").filter(pk=stream_id).first()
    if stream is None:
        return None
    if stream.ended_at is not None and stream.started_at >= stream.ended_at:  # its start was missed
        _find_start(stream, client or TwitchClient())
    try:
        clip_import = clip_import_start(user=stream.user, since=stream.started_at, until=timezone.now())
    except ImportAlreadyRunning:
        defer(IMPORT_TASK, delay_seconds=IMPORT_BUSY_RETRY_SECONDS, stream_id=stream_id)
        return None
    except ClipError as exc:
        logger.info("No import for stream %s: %s", stream_id, exc)
        return None
    Stream.objects.filter(pk=stream.pk).update(imports_queued=F("imports_queued") + 1)
    return str(clip_import.pk)


def streams_import_daily(*, client: TwitchClient | None = None) -> list[str]:
    """The backstop for missed notifications: import the last day of every linked user's clips."""
    started = []
    since = timezone.now() - timedelta(days=1, hours=1)
    for account in TwitchAccount.objects.filter(user__is_active=True).select_related("user"):
        try:
            started.append(str(clip_import_start(user=account.user, since=since).pk))
        except ClipError as exc:
            logger.info("No daily import for %s: %s", account.user_id, exc)
    return started


def stream_of_clip(streams: list[Stream], created_at: datetime) -> Stream | None:
    for stream in streams:
        end = (stream.ended_at or timezone.now()) + CLIP_GRACE
        if stream.started_at <= created_at <= end:
            return stream
    return None


def _find_start(stream: Stream, client: TwitchClient) -> None:
    """The start of a stream whose stream.online we missed: its archive VOD's, or a day before its end."""
    start = stream.ended_at - LONGEST_UNKNOWN_STREAM
    try:
        videos = client.get_archive_videos(broadcaster_id=stream.broadcaster_user_id, first=1)
    except TwitchError as exc:
        logger.info("No archive for stream %s (%s); importing its last day", stream.pk, exc.code)
        videos = []
    if videos:
        created = _moment(videos[0].get("created_at"))
        try:
            duration = parse_twitch_duration(str(videos[0].get("duration", "")))
        except ValueError:
            duration = timedelta(0)
        if created and created + duration >= stream.ended_at - timedelta(hours=1) and created < stream.ended_at:
            start = created
    Stream.objects.filter(pk=stream.pk).update(started_at=start)
    stream.started_at = start


def _moment(value) -> datetime | None:
    try:
        return parse_twitch_timestamp(str(value)) if value else None
    except ValueError:
        return None
