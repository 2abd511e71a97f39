"""Fixtures of the render tests: the render backends' settings, a fake Lambda and new jobs."""

import pytest
from botocore.client import BaseClient
from procrastinate.contrib.django.models import ProcrastinateJob

from clips.tests.factories import make_clip
from integrations.tests.fakes import REMOTION_WEBHOOK_SECRET, FakeLambda
from renders import services
from renders.models import RenderJob
from renders.tests.factories import make_job


@pytest.fixture
def remotion_settings(settings, media_root):
    settings.RENDER_BACKEND = "remotion_lambda"
    settings.REMOTION_REGION = "us-east-1"
    settings.REMOTION_FUNCTION_NAME = "remotion-render-4-0-539-mem2048mb-disk2048mb-120sec"
    settings.REMOTION_SERVE_URL = "https://remotionlambda-test.s3.us-east-1.amazonaws.com/sites/creatorsync/index.html"
    settings.REMOTION_WEBHOOK_SECRET = REMOTION_WEBHOOK_SECRET
    return settings


@pytest.fixture
def local_render_settings(settings, media_root):
    settings.RENDER_BACKEND = "local"
    return settings


@pytest.fixture
def clip(owner):
    """A clip of the owner's without its video: enough for jobs that are never rendered."""
    return make_clip(owner, title="Insane ace on Ascent")


@pytest.fixture
def new_job(owner, ready_clip, preset):
    """`new_job(status, **options)`: a job of the owner's ready clip with the preset, created as the API does.

    It is then put in `status` with the other fields given, without any transition (see make_job).
    """

    def new(status: str = RenderJob.Status.QUEUED, **options) -> RenderJob:
        return make_job(owner, ready_clip, preset, through_api=True, status=status, **options)

    return new


@pytest.fixture
def dispatched_local_job(new_job, local_render_settings, work_dir) -> RenderJob:
    """A job the local backend has started, its scratch folders under `work_dir`.

    Nothing is left queued (the dispatch queued its render): tests run the render by hand.
    """
    job = new_job()
    assert services.render_dispatch(job_id=str(job.pk)) == services.DispatchOutcome.DISPATCHED
    ProcrastinateJob.objects.all().delete()
    return job


@pytest.fixture
def aws_env(monkeypatch, tmp_path):
    """AWS credentials for the SDK, and nothing of the developer's own AWS configuration."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def fake_lambda(monkeypatch, aws_env) -> FakeLambda:
    """Remotion Lambda, answered in-process at boto3's `lambda.invoke`: the real SDK builds every request."""
    fake = FakeLambda()
    real_call = BaseClient._make_api_call

    def make_api_call(self, operation_name, api_params):
        if operation_name != "Invoke":
            return real_call(self, operation_name, api_params)
        return fake.invoke(self, api_params)

    monkeypatch.setattr(BaseClient, "_make_api_call", make_api_call)
    return fake


@pytest.fixture
def post_render(api_client, bearer, owner, ready_clip, preset, local_render_settings):
    """`post_render(props)`: the owner's POST /api/renders/ for their ready clip."""

    def post(props: dict):
        data = {"clip": str(ready_clip.pk), "preset": preset.slug, "props": props}
        return api_client.post("/api/renders/", data, format="json", **bearer(owner))

    return post
