"""Dispatch to Remotion Lambda through the real SDK, with only boto3's `lambda.invoke` answered in-process."""

import io
import itertools
import json
from dataclasses import dataclass
from datetime import timedelta

import botocore.httpsession
import pytest
from botocore.awsrequest import AWSResponse
from botocore.client import BaseClient
from botocore.exceptions import ClientError
from botocore.response import StreamingBody
from django.core import signing
from django.utils import timezone
from procrastinate.contrib.django.models import ProcrastinateJob

from core.signed_media import SALT
from renders import services
from renders.models import RenderJob
from renders.tests.conftest import WEBHOOK_SECRET

pytestmark = pytest.mark.django_db

DISPATCH_TASK = "renders.tasks.dispatch_render"
BUCKET = "remotionlambda-useast1-abc123"
LAYOUT = {"trim_start": 0.5, "trim_end": 2.5, "aspect": "9:16", "layout": "fill", "title": "Clutch!"}


@dataclass
class Invocation:
    client: BaseClient
    function_name: str
    payload: dict


class FakeLambda:
    """Answers `lambda.invoke` calls: each answer is a response dict or an exception to raise.

    With no queued answer, a start succeeds with a fresh render id.
    """

    def __init__(self):
        self.calls: list[Invocation] = []
        self.answers: list = []
        self._ids = itertools.count(1)

    def answer(self, *answers) -> None:
        self.answers.extend(answers)

    def invoke(self, client: BaseClient, params: dict) -> dict:
        payload = json.loads(params["Payload"])
        self.calls.append(Invocation(client, params["FunctionName"], payload))
        answer = (
            self.answers.pop(0)
            if self.answers
            else {"type": "success", "renderId": f"render-{next(self._ids)}", "bucketName": BUCKET}
        )
        if isinstance(answer, Exception):
            raise answer
        body = json.dumps(answer).encode()
        return {"StatusCode": 200, "Payload": StreamingBody(io.BytesIO(body), len(body))}

    @property
    def starts(self) -> list[dict]:
        return [call.payload for call in self.calls if call.payload.get("type") == "start"]


@pytest.fixture
def aws_env(monkeypatch, tmp_path):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def fake_lambda(monkeypatch, aws_env) -> FakeLambda:
    fake = FakeLambda()
    real_call = BaseClient._make_api_call

    def make_api_call(self, operation_name, api_params):
        if operation_name != "Invoke":
            return real_call(self, operation_name, api_params)
        return fake.invoke(self, api_params)

    monkeypatch.setattr(BaseClient, "_make_api_call", make_api_call)
    return fake


@pytest.fixture
def make_job(owner, ready_clip, preset, remotion_settings):
    def make(input_props: dict | None = None) -> RenderJob:
        return services.render_job_create(
            owner=owner, clip=ready_clip, preset=preset, input_props=dict(input_props or LAYOUT)
        )

    return make


def client_error(code: str, message: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "Invoke")


def scheduled_dispatches(job: RenderJob):
    return ProcrastinateJob.objects.filter(
        task_name=DISPATCH_TASK, args={"job_id": str(job.pk)}, scheduled_at__isnull=False
    )


def run_until_idle(run_queued_jobs) -> None:
    """Run the queue until no due job is left: a worker run with wait=False misses jobs its own jobs queue."""
    for _ in range(5):
        run_queued_jobs(queues=["renders"])
        due = ProcrastinateJob.objects.filter(queue_name="renders", status="todo").exclude(
            scheduled_at__gt=timezone.now()
        )
        if not due.exists():
            return
    raise AssertionError(f"The render queue never became idle: {list(due.values())}")


def make_due(job: RenderJob) -> None:
    RenderJob.objects.filter(pk=job.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))


def input_props_sent(start: dict) -> dict:
    assert start["inputProps"]["type"] == "payload"  # small props travel inline, not via S3
    return json.loads(start["inputProps"]["payload"])


# --- The request -------------------------------------------------------------------------------


def test_a_dispatch_invokes_the_configured_function_with_a_start_payload(fake_lambda, make_job, settings):
    job = make_job()

    assert services.render_dispatch(job_id=str(job.pk)) == "dispatched"

    (call,) = fake_lambda.calls
    assert call.function_name == settings.REMOTION_FUNCTION_NAME
    assert call.payload["type"] == "start"
    assert call.payload["composition"] == "VerticalShort"
    assert call.payload["serveUrl"] == settings.REMOTION_SERVE_URL
    assert call.payload["codec"] == "h264"


def test_the_start_payload_carries_the_layout_and_what_the_server_decides(fake_lambda, make_job, settings):
    job = make_job()

    services.render_dispatch(job_id=str(job.pk))

    props = input_props_sent(fake_lambda.starts[0])
    assert {key: props[key] for key in LAYOUT} == LAYOUT
    assert (props["output_width"], props["output_height"]) == (720, 1280)
    assert props["fps"] == 30
    assert props["source_url"].startswith(f"{settings.PUBLIC_BASE_URL}/signed-media/")


def test_the_source_url_is_a_signed_link_to_the_clips_own_video(fake_lambda, make_job, ready_clip):
    job = make_job()

    services.render_dispatch(job_id=str(job.pk))

    source_url = input_props_sent(fake_lambda.starts[0])["source_url"]
    token = source_url.rstrip("/").rsplit("/", 1)[-1]
    assert signing.loads(token, salt=SALT) == {"name": ready_clip.media_file.name}


def test_a_client_supplied_source_url_is_never_sent(fake_lambda, make_job, settings):
    job = make_job({**LAYOUT, "source_url": "https://evil.example/steal.mp4"})

    services.render_dispatch(job_id=str(job.pk))

    source_url = input_props_sent(fake_lambda.starts[0])["source_url"]
    assert "evil" not in source_url
    assert source_url.startswith(f"{settings.PUBLIC_BASE_URL}/signed-media/")


def test_the_start_payload_asks_for_a_signed_webhook_naming_our_job(fake_lambda, make_job, settings):
    job = make_job()

    services.render_dispatch(job_id=str(job.pk))

    assert fake_lambda.starts[0]["webhook"] == {
        "url": f"{settings.PUBLIC_BASE_URL}/webhooks/remotion/",
        "secret": WEBHOOK_SECRET,
        "customData": {"job": str(job.pk)},
    }


def test_the_lambda_client_the_sdk_creates_makes_a_single_attempt(fake_lambda, make_job):
    job = make_job()

    services.render_dispatch(job_id=str(job.pk))

    retries = fake_lambda.calls[0].client.meta.config.retries
    assert retries["total_max_attempts"] == 1


def test_a_throttled_start_is_sent_to_aws_exactly_once(monkeypatch, aws_env, make_job):
    # Answer at the HTTP layer, below boto3's retry loop, so that its retries are real.
    sent = []

    def send(self, request):
        sent.append(request.url)
        body = json.dumps({"Type": "User", "message": "Rate Exceeded."}).encode()
        headers = {"x-amzn-ErrorType": "TooManyRequestsException", "Content-Type": "application/json"}
        return AWSResponse(request.url, 429, headers, _RawBody(body))

    monkeypatch.setattr(botocore.httpsession.URLLib3Session, "send", send)
    job = make_job()

    assert services.render_dispatch(job_id=str(job.pk)) == "rate_limited"
    assert len(sent) == 1


class _RawBody:
    def __init__(self, body: bytes):
        self._body = body

    def stream(self, **kwargs):
        yield self._body

    def read(self, *args) -> bytes:
        return self._body


# --- The response ------------------------------------------------------------------------------


def test_the_render_id_and_bucket_from_the_response_are_saved(fake_lambda, make_job):
    fake_lambda.answer({"type": "success", "renderId": "kq3v9x1abc", "bucketName": BUCKET})
    job = make_job()

    services.render_dispatch(job_id=str(job.pk))

    job.refresh_from_db()
    assert job.status == "rendering"
    assert (job.backend_render_id, job.remotion_bucket) == ("kq3v9x1abc", BUCKET)
    assert job.attempts == 1
    assert job.dispatched_at is not None
    assert list(job.events.values_list("kind", flat=True)) == ["created", "dispatching", "dispatched"]


def test_a_rate_limited_start_goes_back_to_the_queue_with_a_scheduled_retry(fake_lambda, make_job):
    fake_lambda.answer(client_error("TooManyRequestsException", "Rate Exceeded"))
    job = make_job()

    assert services.render_dispatch(job_id=str(job.pk)) == "rate_limited"

    job.refresh_from_db()
    assert job.status == "queued"
    assert job.attempts == 1
    assert job.dispatched_at is None
    assert job.next_attempt_at > timezone.now()
    (retry,) = scheduled_dispatches(job)
    assert retry.status == "todo"
    assert retry.scheduled_at > timezone.now()
    assert job.events.filter(kind="dispatch_deferred").count() == 1


def test_a_rate_limited_job_is_not_dispatched_again_before_its_retry_time(fake_lambda, make_job):
    fake_lambda.answer(client_error("TooManyRequestsException", "Rate Exceeded"))
    job = make_job()
    services.render_dispatch(job_id=str(job.pk))

    assert services.render_dispatch(job_id=str(job.pk)) == "not_due"
    assert len(fake_lambda.calls) == 1


def test_every_rate_limited_attempt_is_counted(fake_lambda, make_job):
    fake_lambda.answer(*[client_error("TooManyRequestsException", "Rate Exceeded")] * 2)
    job = make_job()

    services.render_dispatch(job_id=str(job.pk))
    make_due(job)
    services.render_dispatch(job_id=str(job.pk))
    make_due(job)
    services.render_dispatch(job_id=str(job.pk))

    job.refresh_from_db()
    assert job.status == "rendering"
    assert job.attempts == 3
    assert scheduled_dispatches(job).count() == 2


def test_a_start_that_keeps_failing_fails_the_job_after_the_maximum_attempts(fake_lambda, make_job, settings):
    settings.RENDER_MAX_DISPATCH_ATTEMPTS = 3
    fake_lambda.answer(*[client_error("ServiceException", "Internal error")] * 3)
    job = make_job()

    outcomes = []
    for _ in range(3):
        outcomes.append(services.render_dispatch(job_id=str(job.pk)))
        make_due(job)

    assert outcomes == ["retrying", "retrying", "failed"]
    assert len(fake_lambda.calls) == 3
    job.refresh_from_db()
    assert job.status == "failed"
    assert job.failure_reason == "dispatch"
    assert job.error_message == "AWS refused the render (ServiceException)."
    assert job.attempts == 3


def test_a_start_refused_for_lack_of_permission_fails_at_once(fake_lambda, make_job):
    fake_lambda.answer(client_error("AccessDeniedException", "not authorized to perform lambda:InvokeFunction"))
    job = make_job()

    assert services.render_dispatch(job_id=str(job.pk)) == "failed"

    job.refresh_from_db()
    assert job.failure_reason == "dispatch"
    assert job.error_message == "AWS refused the render (AccessDeniedException)."


def test_an_error_answered_by_the_remotion_function_fails_the_job_with_its_message(fake_lambda, make_job):
    fake_lambda.answer({"errorMessage": "Version mismatch: the function is 4.0.500", "errorType": "Error"})
    job = make_job()

    assert services.render_dispatch(job_id=str(job.pk)) == "failed"

    job.refresh_from_db()
    assert job.failure_reason == "dispatch"
    assert job.error_message.startswith("Remotion refused the render:")
    assert "Version mismatch: the function is 4.0.500" in job.error_message


def test_a_job_whose_clip_was_deleted_fails_to_dispatch_without_calling_lambda(fake_lambda, make_job, ready_clip):
    job = make_job()
    ready_clip.delete()

    outcome = services.render_dispatch(job_id=str(job.pk))

    job.refresh_from_db()
    assert (outcome, job.status, job.failure_reason) == ("failed", "failed", "dispatch")
    assert fake_lambda.calls == []


def test_a_duplicate_dispatch_of_the_same_job_does_nothing(fake_lambda, make_job):
    job = make_job()

    outcomes = [services.render_dispatch(job_id=str(job.pk)) for _ in range(2)]

    assert outcomes == ["dispatched", "not_due"]
    assert len(fake_lambda.calls) == 1
    job.refresh_from_db()
    assert job.attempts == 1


# --- The concurrency cap -----------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_no_more_than_the_concurrent_maximum_render_at_once(fake_lambda, make_job, settings, run_queued_jobs):
    settings.RENDER_MAX_CONCURRENT = 2
    for _ in range(4):
        make_job()

    run_until_idle(run_queued_jobs)

    assert sorted(RenderJob.objects.values_list("status", flat=True)) == ["queued"] * 2 + ["rendering"] * 2
    assert len(fake_lambda.starts) == 2


@pytest.mark.django_db(transaction=True)
def test_a_finished_render_frees_its_slot_for_the_oldest_waiting_job(fake_lambda, make_job, settings, run_queued_jobs):
    settings.RENDER_MAX_CONCURRENT = 2
    for _ in range(4):
        make_job()
    run_until_idle(run_queued_jobs)
    rendering = RenderJob.objects.filter(status="rendering").order_by("created_at")
    waiting = list(RenderJob.objects.filter(status="queued").order_by("created_at"))

    services.render_mark_succeeded(job=rendering[0], source="webhook")
    run_until_idle(run_queued_jobs)

    statuses = dict(RenderJob.objects.values_list("pk", "status"))
    assert sorted(statuses.values()) == ["queued", "rendering", "rendering", "succeeded"]
    assert statuses[waiting[0].pk] == "rendering"
    assert statuses[waiting[1].pk] == "queued"
    assert len(fake_lambda.starts) == 3
