"""TikTok Direct Post (FILE_UPLOAD): init, then the chunks in order, then status checks.

`publish_id` and the upload URL are stored before the first chunk. What a crash at each step
leads to (the run that follows asks TikTok for the post's status first):
- before `publish_id` is stored: an initialised post that never gets a byte; TikTok drops it
  when its upload URL expires (an hour). The next run initialises a new one. No post.
- during the upload, before the final chunk went out: the post cannot complete; it is
  abandoned (kept in the event log) and a new one initialised. One post.
- after the final chunk went out (`last_chunk_started_at`): TikTok may have the whole file.
  Its status decides: past PROCESSING_UPLOAD, the upload counts as done; still uploading, we
  wait until the upload URL has certainly expired before abandoning it. One post.
- while processing: the next run asks for the status again.
"""

from datetime import timedelta

from django.utils import timezone

from integrations import tiktok
from publishing.models import Publication
from publishing.platforms import base
from publishing.platforms.base import (
    CheckAgain,
    CheckResult,
    PublishFailed,
    Reason,
    RenderFile,
    TryAgain,
    Waiting,
    WaitUntil,
)
from publishing.rules import tiktok_caption

PROCESSING_CHECK_SECONDS = 30
# The upload URL is valid for an hour; after that (and a margin) an unfinished upload never finishes.
UPLOAD_URL_LIFETIME = timedelta(hours=1, minutes=10)
PAST_UPLOAD = {"PROCESSING_DOWNLOAD", "SEND_TO_USER_INBOX", "PUBLISH_COMPLETE"}
AUTH_CODES = {"access_token_invalid", "scope_not_authorized", "scope_permission_missed"}
TRANSIENT_CODES = {"unavailable", "unreachable", "invalid_response", "internal_error"}
RATE_LIMIT_BASE_SECONDS = 60
RATE_LIMIT_MAX_SECONDS = 15 * 60


class TikTok:
    def upload(self, publication: Publication, *, token: str, render_file: RenderFile) -> None:
        with _tiktok_errors(publication):
            if publication.publish_id and self._earlier_post_uploaded(publication, token=token):
                return
            with render_file() as path:
                size = path.stat().st_size
                plan = tiktok.chunk_plan(size)
                self._init_post(publication, token=token, size=size, plan=plan)
                if plan.total_chunk_count == 1:
                    _final_chunk_next(publication)
                tiktok.upload_chunks(
                    upload_url=publication.upload_url,
                    path=path,
                    video_size=size,
                    plan=plan,
                    on_chunk=lambda index: _chunk_confirmed(publication, index, plan=plan, size=size),
                )
            base.step_reached(publication, "last_chunk_answered")

    def check(self, publication: Publication, *, token: str) -> CheckResult:
        with _tiktok_errors(publication):
            state = _post_status(publication, token=token)
        if state.get("status") != "PUBLISH_COMPLETE":
            return CheckResult(check_again_in_seconds=PROCESSING_CHECK_SECONDS)
        # The public id of a public post is withheld until moderation ends (minutes to hours).
        post_ids = state.get("publicaly_available_post_id") or []
        if not post_ids:
            return CheckResult(published=True, check_again_in_seconds=5 * 60)
        post_id = str(post_ids[0])
        return CheckResult(
            published=True,
            external_id=post_id,
            external_url=tiktok.post_url(username=publication.account_name, post_id=post_id),
        )

    def _earlier_post_uploaded(self, publication: Publication, *, token: str) -> bool:
        """Whether the post an earlier run initialised has its whole file; abandons one that never will."""
        state = _post_status(publication, token=token)
        status = state.get("status")
        whole_file = publication.upload_size and (state.get("uploaded_bytes") or 0) >= publication.upload_size
        if status in PAST_UPLOAD or whole_file:
            base.record(publication, "upload_confirmed", publish_id=publication.publish_id, status=status)
            return True
        final_chunk_sent = publication.last_chunk_started_at
        if final_chunk_sent and timezone.now() < final_chunk_sent + UPLOAD_URL_LIFETIME:
            raise CheckAgain("The final chunk may have reached TikTok; waiting for its status.", seconds=60)
        _abandon_post(publication, why=f"upload unfinished ({status})")
        return False

    def _init_post(self, publication: Publication, *, token: str, size: int, plan: tiktok.ChunkPlan) -> None:
        creator = tiktok.query_creator_info(token=token)
        allowed = creator.get("privacy_level_options") or []
        if publication.privacy not in allowed:
            raise PublishFailed(
                f"TikTok no longer allows {publication.privacy} posts for this account "
                f"(allowed: {', '.join(allowed)}).",
                reason=Reason.REJECTED,
            )
        post = tiktok.init_direct_post(
            token=token,
            post_info={
                "title": tiktok_caption(publication.title, publication.description),
                "privacy_level": publication.privacy,
                # The creator's own settings in the TikTok app decide these.
                "disable_comment": bool(creator.get("comment_disabled")),
                "disable_duet": bool(creator.get("duet_disabled")),
                "disable_stitch": bool(creator.get("stitch_disabled")),
            },
            video_size=size,
            plan=plan,
        )
        base.step_reached(publication, "post_initialised")
        base.save_progress(
            publication,
            publish_id=str(post["publish_id"]),
            upload_url=str(post["upload_url"]),
            upload_size=size,
            bytes_sent=0,
            account_name=str(creator.get("creator_username") or "")[:200],
        )
        base.record(publication, "post_initialised", publish_id=publication.publish_id, chunks=plan.total_chunk_count)
        base.step_reached(publication, "publish_id_stored")


def _post_status(publication: Publication, *, token: str) -> dict:
    """TikTok's status of the publication's post; PublishFailed (rejected) when TikTok failed it."""
    state = tiktok.fetch_status(token=token, publish_id=publication.publish_id)
    if state.get("status") == "FAILED":
        raise PublishFailed(f"TikTok did not publish the video: {state.get('fail_reason')}.", reason=Reason.REJECTED)
    return state


def _final_chunk_next(publication: Publication) -> None:
    base.save_progress(publication, last_chunk_started_at=timezone.now())


def _chunk_confirmed(publication: Publication, index: int, *, plan: tiktok.ChunkPlan, size: int) -> None:
    base.save_progress(publication, bytes_sent=min(size, (index + 1) * plan.chunk_size))
    base.step_reached(publication, "chunk_confirmed")
    if index == plan.total_chunk_count - 2:
        _final_chunk_next(publication)


def _abandon_post(publication: Publication, *, why: str) -> None:
    base.record(publication, "post_abandoned", publish_id=publication.publish_id, reason=why)
    base.save_progress(publication, publish_id="", upload_url="", bytes_sent=0, last_chunk_started_at=None)


def _rate_limit_wait(publication: Publication) -> int:
    recent = publication.events.filter(
        kind="waiting", payload__reason=Waiting.RATE_LIMITED, created_at__gte=timezone.now() - timedelta(hours=1)
    ).count()
    return min(RATE_LIMIT_MAX_SECONDS, RATE_LIMIT_BASE_SECONDS * 2**recent)


def _tiktok_errors(publication: Publication):
    return base.platform_errors(tiktok.TikTokError, lambda error: _translated(publication, error))


def _translated(publication: Publication, error: tiktok.TikTokError) -> Exception:
    message = str(error)
    if error.code in AUTH_CODES or error.status == 401:
        return PublishFailed(f"TikTok refused the connection: {message}", reason=Reason.AUTH)
    if error.code == "rate_limit_exceeded":
        wait = _rate_limit_wait(publication)
        return WaitUntil(
            f"TikTok's rate limit (6 posts a minute); trying again in {wait} s.",
            reason=Waiting.RATE_LIMITED,
            until=timezone.now() + timedelta(seconds=wait),
        )
    if error.code == "spam_risk_too_many_posts":
        return WaitUntil(
            "TikTok's daily post cap for this account is reached; trying again in a day.",
            reason=Waiting.TOO_MANY_POSTS,
            until=timezone.now() + timedelta(hours=24),
        )
    if error.code == "upload_failed" and (error.status or 500) < 500:
        if not publication.last_chunk_started_at:
            _abandon_post(publication, why=message)
        return TryAgain(f"TikTok refused a chunk: {message}")
    if error.code in TRANSIENT_CODES or error.code == "upload_failed":
        return TryAgain(message)
    return PublishFailed(f"TikTok refused the post: {message}", reason=Reason.REJECTED)
