import hashlib
import hmac
import json

import pytest
from django.core.files import File

from clips.models import Clip
from clips.tests.factories import make_clip, make_video
from renders.models import RenderPreset

WEBHOOK_SECRET = "remotion-test-webhook-secret"
WEBHOOK_URL = "/webhooks/remotion/"


@pytest.fixture
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PUBLIC_BASE_URL = "https://api.creatorsync.test"
    return settings.MEDIA_ROOT


@pytest.fixture
def remotion_settings(settings, media_root):
    settings.RENDER_BACKEND = "remotion_lambda"
    settings.REMOTION_REGION = "us-east-1"
    settings.REMOTION_FUNCTION_NAME = "remotion-render-4-0-539-mem2048mb-disk2048mb-120sec"
    settings.REMOTION_SERVE_URL = "https://remotionlambda-test.s3.us-east-1.amazonaws.com/sites/creatorsync/index.html"
    settings.REMOTION_WEBHOOK_SECRET = WEBHOOK_SECRET
    return settings


@pytest.fixture
def local_render_settings(settings, media_root):
    settings.RENDER_BACKEND = "local"
    return settings


def make_preset(*, name: str = "Vertical 720p", slug: str = "vertical-720p", **fields) -> RenderPreset:
    """A 720x1280, 30 fps preset of the VerticalShort composition; keyword arguments override."""
    defaults = {
        "composition_id": "VerticalShort",
        "width": 720,
        "height": 1280,
        "fps": 30,
        "default_props": {"aspect": "9:16", "layout": "fill"},
    }
    return RenderPreset.objects.create(name=name, slug=slug, **{**defaults, **fields})


@pytest.fixture
def preset(db) -> RenderPreset:
    return make_preset()


@pytest.fixture(scope="session")
def landscape_video(tmp_path_factory):
    return make_video(tmp_path_factory.mktemp("render-sources") / "landscape.mp4", width=640, height=360, seconds=3)


@pytest.fixture(scope="session")
def portrait_video(tmp_path_factory):
    return make_video(tmp_path_factory.mktemp("render-sources") / "portrait.mp4", width=360, height=640, seconds=3)


def ready_clip_for(user, video_path, portrait_path=None) -> Clip:
    """A clip whose real video file sits in storage, ready to render."""
    clip = make_clip(user, media_status=Clip.MediaStatus.READY, duration=3.0, media_duration=3.0)
    with video_path.open("rb") as source:
        clip.media_file.save("source.mp4", File(source), save=False)
    if portrait_path:
        with portrait_path.open("rb") as source:
            clip.portrait_file.save("portrait.mp4", File(source), save=False)
        clip.has_portrait = True
    clip.save()
    return clip


@pytest.fixture
def ready_clip(owner, media_root, landscape_video, portrait_video) -> Clip:
    return ready_clip_for(owner, landscape_video, portrait_video)


def remotion_signature(body: bytes, secret: str = WEBHOOK_SECRET) -> str:
    return "sha512=" + hmac.new(secret.encode(), body, hashlib.sha512).hexdigest()


def remotion_delivery(payload: dict, *, secret: str = WEBHOOK_SECRET) -> tuple[bytes, dict]:
    """A webhook body as Remotion sends it (compact JSON) and its signed headers."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    return body, {
        "HTTP_X_REMOTION_SIGNATURE": remotion_signature(body, secret),
        "HTTP_X_REMOTION_STATUS": payload.get("type", ""),
        "HTTP_X_REMOTION_MODE": "production",
    }


def success_payload(*, render_id: str, job_id: str, bucket: str = "remotionlambda-useast1-abc") -> dict:
    return {
        "type": "success",
        "renderId": render_id,
        "expectedBucketOwner": "123456789012",
        "bucketName": bucket,
        "customData": {"job": job_id},
        "outputUrl": f"https://{bucket}.s3.us-east-1.amazonaws.com/renders/{render_id}/out.mp4",
        "outputFile": f"https://{bucket}.s3.us-east-1.amazonaws.com/renders/{render_id}/out.mp4",
        "lambdaErrors": [],
        "timeToFinish": 23456,
        "costs": {"estimatedCost": 0.0123, "estimatedDisplayCost": "$0.0123", "currency": "USD", "disclaimer": "x"},
    }
