"""Builders for publishing tests: succeeded renders with an output, Clerk's platform tokens, publications."""

import os

from django.core.files.base import ContentFile

from clips.tests.factories import make_clip
from integrations.tests.fakes import CLERK_API_URL
from integrations.tests.tiktok_fake import VALID_TOKEN as TIKTOK_TOKEN
from integrations.tests.youtube_fake import VALID_TOKEN as YOUTUBE_TOKEN
from publishing.models import Publication
from renders.models import RenderJob, RenderPreset
from renders.tests.factories import make_job, make_preset

YOUTUBE_SCOPES = ("openid", "https://www.googleapis.com/auth/youtube.upload")
TIKTOK_SCOPES = ("user.info.basic", "video.publish")
CLERK_PROVIDERS = {"youtube": "google", "tiktok": "tiktok"}


def make_succeeded_render(owner, *, size: int = 700 * 1024, clip_title: str = "Clutch 1v4") -> RenderJob:
    """A succeeded render whose output (`size` random bytes standing in for an MP4) sits in storage."""
    preset = RenderPreset.objects.filter(slug="vertical-720p").first() or make_preset()
    clip = make_clip(owner, title=clip_title)
    job = make_job(owner, clip, preset, status=RenderJob.Status.SUCCEEDED)
    job.output_file.save("short.mp4", ContentFile(os.urandom(size)), save=True)
    return job


def serve_platform_token(mock, user, platform: str, *, scopes=None, provider: str | None = None, label=None) -> None:
    """Clerk's Backend API hands out the user's Google or TikTok token (under `provider`, e.g. `oauth_google`)."""
    provider = provider or CLERK_PROVIDERS[platform]
    token = {
        "object": "oauth_access_token",
        "external_account_id": f"eac_{platform}",
        "provider": f"oauth_{CLERK_PROVIDERS[platform]}",
        "provider_user_id": f"{platform}-user-1",
        "token": YOUTUBE_TOKEN if platform == "youtube" else TIKTOK_TOKEN,
        "expires_at": None,
        "label": label,
        "public_metadata": {},
        "scopes": list(scopes if scopes is not None else (YOUTUBE_SCOPES if platform == "youtube" else TIKTOK_SCOPES)),
    }
    mock.get(f"{CLERK_API_URL}/users/{user.clerk_id}/oauth_access_tokens/{provider}", json=[token])


def serve_no_connection(mock, user, platform: str) -> None:
    """The user never connected the platform: Clerk answers an empty list under both provider ids."""
    for provider in (CLERK_PROVIDERS[platform], f"oauth_{CLERK_PROVIDERS[platform]}"):
        mock.get(f"{CLERK_API_URL}/users/{user.clerk_id}/oauth_access_tokens/{provider}", json=[])


def make_publication(render: RenderJob, platform: str = "youtube", **fields) -> Publication:
    """A publication row as it is written, with nothing queued; keyword arguments set its fields."""
    defaults = {"title": "Clutch 1v4", "privacy": "public", "status": Publication.Status.QUEUED}
    return Publication.objects.create(owner=render.owner, render=render, platform=platform, **{**defaults, **fields})
