"""YouTube Shorts: a resumable upload whose session URI is stored before the first byte.

What a crash at each step leads to (the run that follows starts from what is stored):
- before the session URI is stored: a session that never received a byte, which YouTube
  drops; the next run opens a new one. No video.
- during the upload: the next run asks the session how many bytes it holds and sends the rest.
- after the last byte, before the video id is stored (the answer lost): the session answers
  the status query with the finished video; we store its id. One video.
- while processing: the next run asks for the video's status again.
A session that expired (404 after about a week) never finished, or it would answer with its
video: a new one is opened.
"""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.utils import timezone

from integrations import youtube
from publishing.models import Publication
from publishing.platforms import base
from publishing.platforms.base import CheckResult, PublishFailed, Reason, RenderFile, TryAgain, Waiting, WaitUntil

PACIFIC = ZoneInfo("America/Los_Angeles")
PROCESSING_CHECK_SECONDS = 30
# YouTube refuses a publishAt that is not in the future: nearer than this, post at once.
PUBLISH_AT_MARGIN = timedelta(minutes=2)
FAILED_UPLOAD_STATUSES = {"failed": "failureReason", "rejected": "rejectionReason", "deleted": None}


class YouTube:
    def upload(self, publication: Publication, *, token: str, render_file: RenderFile) -> None:
        with _youtube_errors(publication):
            if publication.external_id:
                return  # the video exists: a run that died after storing its id
            with render_file() as path:
                size = path.stat().st_size
                start = self._resume_or_open_session(publication, token=token, size=size)
                if publication.external_id:
                    return
                video = youtube.upload_from(
                    token=token,
                    session_url=publication.upload_url,
                    path=path,
                    size=size,
                    start=start,
                    on_progress=lambda received: _chunk_confirmed(publication, received),
                )
            base.step_reached(publication, "last_chunk_answered")
            _store_video(publication, video)

    def check(self, publication: Publication, *, token: str) -> CheckResult:
        with _youtube_errors(publication):
            video = youtube.get_video(token=token, video_id=publication.external_id)
        if video is None:
            raise PublishFailed("YouTube no longer has the video (deleted on YouTube).", reason=Reason.REJECTED)
        status = video.get("status") or {}
        upload_status = status.get("uploadStatus")
        if upload_status == "processed":
            return CheckResult(
                published=True,
                external_id=publication.external_id,
                external_url=youtube.video_url(publication.external_id),
            )
        if upload_status in FAILED_UPLOAD_STATUSES:
            why = status.get(FAILED_UPLOAD_STATUSES[upload_status] or "", "") or upload_status
            raise PublishFailed(f"YouTube did not publish the video: {upload_status} ({why}).", reason=Reason.REJECTED)
        return CheckResult(check_again_in_seconds=PROCESSING_CHECK_SECONDS)

    def _resume_or_open_session(self, publication: Publication, *, token: str, size: int) -> int:
        """The byte to send next: after what an existing session holds, or 0 in a new session."""
        if publication.upload_url:
            try:
                state = youtube.query_upload(token=token, session_url=publication.upload_url, size=size)
            except youtube.YouTubeError as exc:
                if exc.code != "session_expired":
                    raise
                base.record(publication, "upload_session_expired", session_bytes=publication.bytes_sent)
            else:
                if state.video is not None:
                    _store_video(publication, state.video)
                    return size
                base.record(publication, "upload_resumed", from_byte=state.received)
                base.save_progress(publication, bytes_sent=state.received)
                return state.received
        metadata = youtube.video_metadata(
            title=publication.title,
            description=publication.description,
            privacy=publication.privacy,
            publish_at=publish_at(publication),
        )
        session_url = youtube.create_upload_session(token=token, size=size, metadata=metadata)
        base.step_reached(publication, "session_opened")
        base.save_progress(publication, upload_url=session_url, upload_size=size, bytes_sent=0)
        base.record(publication, "upload_session_opened", size=size, publish_at=metadata["status"].get("publishAt"))
        base.step_reached(publication, "session_stored")
        return 0


def publish_at(publication: Publication) -> datetime | None:
    """When YouTube itself makes the video public: the schedule, if it is still ahead."""
    scheduled = publication.scheduled_at
    if scheduled is None or publication.privacy != "public" or scheduled <= timezone.now() + PUBLISH_AT_MARGIN:
        return None
    return scheduled


def next_quota_reset(now: datetime | None = None) -> datetime:
    """YouTube's daily quotas reset at midnight Pacific time."""
    local = (now or timezone.now()).astimezone(PACIFIC)
    return datetime.combine(local.date() + timedelta(days=1), time(0, 5), tzinfo=PACIFIC)


def _chunk_confirmed(publication: Publication, received: int) -> None:
    base.save_progress(publication, bytes_sent=received)
    base.step_reached(publication, "chunk_confirmed")


def _store_video(publication: Publication, video: dict) -> None:
    snippet = video.get("snippet") or {}
    base.save_progress(
        publication,
        external_id=str(video["id"]),
        account_name=str(snippet.get("channelTitle") or "")[:200],
        bytes_sent=publication.upload_size or publication.bytes_sent,
    )
    base.record(publication, "video_created", video_id=publication.external_id)
    base.step_reached(publication, "video_stored")


def _youtube_errors(publication: Publication):
    return base.platform_errors(youtube.YouTubeError, lambda error: _translated(publication, error))


def _translated(publication: Publication, error: youtube.YouTubeError) -> Exception:
    message = str(error)
    if error.code == "unauthorized" and publication.bytes_sent and not publication.attempts:
        # Google's access tokens last an hour: a long upload can outlive one. The next run reads a
        # fresh token from Clerk and resumes the session; a second refusal is the connection's.
        return TryAgain(f"YouTube refused the token mid-upload: {message}")
    if error.code == "unauthorized":
        return PublishFailed(f"YouTube refused the connection: {message}", reason=Reason.AUTH)
    if error.code == "quota_exceeded":
        return WaitUntil(
            "YouTube's daily upload quota is used up; it resets at midnight Pacific time.",
            reason=Waiting.QUOTA_EXCEEDED,
            until=next_quota_reset(),
        )
    if error.code == "upload_limit_exceeded":
        return WaitUntil(
            "The channel reached YouTube's upload limit; trying again in about a day.",
            reason=Waiting.UPLOAD_LIMIT_EXCEEDED,
            until=timezone.now() + timedelta(hours=24),
        )
    if error.code in ("bad_request", "forbidden"):
        return PublishFailed(f"YouTube refused the video: {message}", reason=Reason.REJECTED)
    return TryAgain(message)
