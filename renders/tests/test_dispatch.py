"""Dispatch to Remotion Lambda through the real SDK, with only boto3's `lambda.invoke` answered in-process."""

import json
from datetime import timedelta

import botocore.httpsession
import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError
from django.core import signing
from django.utils import timezone
from procrastinate.contrib.django.models import ProcrastinateJob

from core.signed_media import SALT
from integrations.tests.fakes import REMOTION_BUCKET, REMOTION_WEBHOOK_SECRET
from renders import services
from renders.models import RenderJob

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("remotion_settings")]

DISPATCH_TASK = "renders.tasks.dispatch_render"
LAYOUT = {"trim_start": 0.5, "trim_end": 2.5, "aspect": "9:16", "layout": "fill", "title": "Clutch!"}


def client_error(code: str, message: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "Invoke")


def scheduled_dispatches(job: RenderJob):
    return ProcrastinateJob.objects.filter(
        task_name=DISPATCH_TASK, args={"job_id": str(job.pk)}, scheduled_at__isnull=False
    )


def make_due(job: RenderJob) -> None:
    RenderJob.objects.filter(pk=job.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))


def input_props_sent(start: dict) -> dict:
    assert start["inputProps"]["type"] == "payload"  # small props travel inline, not via S3
    return json.loads(start["inputProps"]["payload"])


# --- The request -------------------------------------------------------------------------------


def test_a_dispatch_invokes_the_configured_function_with_a_start_payload(fake_lambda, new_job, settings):
    job = new_job()

    assert services.render_dispatch(job_id=str(job.pk)) == "dispatched"

    (call,) = fake_lambda.calls
    assert call.function_name == settings.REMOTION_FUNCTION_NAME
    assert call.payload["type"] == "start"
    assert call.payload["composition"] == "VerticalShort"
    assert call.payload["serveUrl"] == settings.REMOTION_SERVE_URL
    assert call.payload["codec"] == "h264"


def test_the_start_payload_carries_the_layout_and_what_the_server_decides(fake_lambda, new_job, settings):
    job = new_job(props=LAYOUT)

    services.render_dispatch(job_id=str(job.pk))

    props = input_props_sent(fake_lambda.starts[0])
    assert {key: props[key] for key in LAYOUT} == LAYOUT
    assert (props["output_width"], props["output_height"]) == (720, 1280)
    assert props["fps"] == 30
    assert props["source_url"].startswith(f"{settings.PUBLIC_BASE_URL}/signed-media/")


def test_the_source_url_is_a_signed_link_to_the_clips_own_video(fake_lambda, new_job, ready_clip):
    job = new_job()

    services.render_dispatch(job_id=str(job.pk))

    source_url = input_props_sent(fake_lambda.starts[0])["source_url"]
    token = source_url.rstrip("/").rsplit("/", 1)[-1]
    assert signing.loads(token, salt=SALT) == {"name": ready_clip.media_file.name}


def test_a_client_supplied_source_url_is_never_sent(fake_lambda, new_job, settings):
    job = new_job(props={**LAYOUT, "source_url": "https://evil.example/steal.mp4"})

    services.render_dispatch(job_id=str(job.pk))

    source_url = input_props_sent(fake_lambda.starts[0])["source_url"]
    assert "evil" not in source_url
    assert source_url.startswith(f"{settings.PUBLIC_BASE_URL}/signed-media/")


def test_the_start_payload_asks_for_a_signed_webhook_naming_our_job(fake_lambda, new_job, settings):
    job = new_job()

    services.render_dispatch(job_id=str(job.pk))

    assert fake_lambda.starts[0]["webhook"] == {
        "url": f"{settings.PUBLIC_BASE_URL}/webhooks/remotion/",
        "secret": REMOTION_WEBHOOK_SECRET,
        "customData": {"job": str(job.pk)},
    }


def test_the_lambda_client_the_sdk_creates_makes_a_single_attempt(fake_lambda, new_job):
    job = new_job()

    services.render_dispatch(job_id=str(job.pk))

    retries = fake_lambda.calls[0].client.meta.config.retries
    assert retries["total_max_attempts"] == 1


def test_a_throttled_start_is_sent_to_aws_exactly_once(monkeypatch, aws_env, new_job):
    # Answer at the HTTP layer, below boto3's retry loop, so that its retries are real.
    sent = []

    def send(self, request):
        sent.append(request.url)
        body = json.dumps({"Type": "User", "message": "Rate Exceeded."}).encode()
        headers = {"x-amzn-ErrorType": "TooManyRequestsException", "Content-Type": "application/json"}
        return AWSResponse(request.url, 429, headers, _RawBody(body))

    monkeypatch.setattr(botocore.httpsession.URLLib3Session, "send", send)
    job = new_job()

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


def test_the_render_id_and_bucket_from_the_response_are_saved(fake_lambda, new_job):
    fake_lambda.answer({"type": "success", "renderId": "kq3v9x1abc", "bucketName": REMOTION_BUCKET})
    job = new_job()

    services.render_dispatch(job_id=str(job.pk))

    job.refresh_from_db()
    assert job.status == "rendering"
    assert (job.backend_render_id, job.remotion_bucket) == ("kq3v9x1abc", REMOTION_BUCKET)
    assert job.attempts == 1
    assert job.dispatched_at is not None
    assert list(job.events.values_list("kind", flat=True)) == ["created", "dispatching", "dispatched"]


def test_a_rate_limited_start_goes_back_to_the_queue_with_a_scheduled_retry(fake_lambda, new_job):
    fake_lambda.answer(client_error("TooManyRequestsException", "Rate Exceeded"))
    job = new_job()

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


def test_a_rate_limited_job_is_not_dispatched_again_before_its_retry_time(fake_lambda, new_job):
    fake_lambda.answer(client_error("TooManyRequestsException", "Rate Exceeded"))
    job = new_job()
    services.render_dispatch(job_id=str(job.pk))

    assert services.render_dispatch(job_id=str(job.pk)) == "not_due"
    assert len(fake_lambda.calls) == 1


def test_every_rate_limited_attempt_is_counted(fake_lambda, new_job):
    fake_lambda.answer(*[client_error("TooManyRequestsException", "Rate Exceeded")] * 2)
    job = new_job()

    services.render_dispatch(job_id=str(job.pk))
    make_due(job)
    services.render_dispatch(job_id=str(job.pk))
    make_due(job)
    services.render_dispatch(job_id=str(job.pk))

    job.refresh_from_db()
    assert job.status == "rendering"
    assert job.attempts == 3
    assert scheduled_dispatches(job).count() == 2


def test_a_start_that_keeps_failing_fails_the_job_after_the_maximum_attempts(fake_lambda, new_job, settings):
    settings.RENDER_MAX_DISPATCH_ATTEMPTS = 3
    fake_lambda.answer(*[client_error("ServiceException", "Internal error")] * 3)
    job = new_job()

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


def test_a_start_refused_for_lack_of_permission_fails_at_once(fake_lambda, new_job):
    fake_lambda.answer(client_error("AccessDeniedException", "not authorized to perform lambda:InvokeFunction"))
    job = new_job()

    assert services.render_dispatch(job_id=str(job.pk)) == "failed"

    job.refresh_from_db()
    assert job.failure_reason == "dispatch"
    assert job.error_message == "AWS refused the render (AccessDeniedException)."


def test_an_error_answered_by_the_remotion_function_fails_the_job_with_its_message(fake_lambda, new_job):
    fake_lambda.answer({"errorMessage": "Version mismatch: the function is 4.0.500", "errorType": "Error"})
    job = new_job()

    assert services.render_dispatch(job_id=str(job.pk)) == "failed"

    job.refresh_from_db()
    assert job.failure_reason == "dispatch"
    assert job.error_message.startswith("Remotion refused the render:")
    assert "Version mismatch: the function is 4.0.500" in job.error_message


def test_a_job_whose_clip_was_deleted_fails_to_dispatch_without_calling_lambda(fake_lambda, new_job, ready_clip):
    job = new_job()
    ready_clip.delete()

    outcome = services.render_dispatch(job_id=str(job.pk))

    job.refresh_from_db()
    assert (outcome, job.status, job.failure_reason) == ("failed", "failed", "dispatch")
    assert fake_lambda.calls == []


def test_a_duplicate_dispatch_of_the_same_job_does_nothing(fake_lambda, new_job):
    job = new_job()

    outcomes = [services.render_dispatch(job_id=str(job.pk)) for _ in range(2)]

    assert outcomes == ["dispatched", "not_due"]
    assert len(fake_lambda.calls) == 1
    job.refresh_from_db()
    assert job.attempts == 1


# --- The concurrency cap -----------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_no_more_than_the_concurrent_maximum_render_at_once(fake_lambda, new_job, settings, run_queued_jobs):
    settings.RENDER_MAX_CONCURRENT = 2
    for _ in range(4):
        new_job()

    run_queued_jobs(queues=["renders"])

    assert sorted(RenderJob.objects.values_list("status", flat=True)) == ["queued"] * 2 + ["rendering"] * 2
    assert len(fake_lambda.starts) == 2


@pytest.mark.django_db(transaction=True)
def test_a_finished_render_frees_its_slot_for_the_oldest_waiting_job(fake_lambda, new_job, settings, run_queued_jobs):
    settings.RENDER_MAX_CONCURRENT = 2
    for _ in range(4):
        new_job()
    run_queued_jobs(queues=["renders"])
    rendering = RenderJob.objects.filter(status="rendering").order_by("created_at")
    waiting = list(RenderJob.objects.filter(status="queued").order_by("created_at"))

    services.render_mark_succeeded(job=rendering[0], source="webhook")
    run_queued_jobs(queues=["renders"])

    statuses = dict(RenderJob.objects.values_list("pk", "status"))
    assert sorted(statuses.values()) == ["queued", "rendering", "rendering", "succeeded"]
    assert statuses[waiting[0].pk] == "rendering"
    assert statuses[waiting[1].pk] == "queued"
    assert len(fake_lambda.starts) == 3
