"""Remotion Lambda's webhook: verified over the raw body, applied once, in any order."""

import json
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone
from procrastinate.contrib.django.models import ProcrastinateJob

from core.errors import ServiceError
from core.tests.concurrency import run_concurrently
from core.tests.helpers import error_code
from integrations.tests.fakes import (
    REMOTION_WEBHOOK_URL,
    load_fixture,
    post_remotion_webhook,
    remotion_delivery,
    remotion_signature,
    remotion_webhook,
)
from renders import services
from renders.backends.remotion import WebhookKind, webhook_parse
from renders.models import RenderEvent, RenderJob

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("remotion_settings")]

COPY_TASK = "renders.tasks.copy_render_output"
RENDER_ID = "8tq1x2k9ab"

# Remotion's published test vector (../shared/reference/remotion.md).
VECTOR_SECRET = "INSECURE_DEFAULT_SECRET"
VECTOR_BODY = b'{"payload":"test"}'
VECTOR_SIGNATURE = (
    "sha512=faa8735b7bac44d521749b45aa2c95cb6204822f54eb18f85aeb30b9a29d309a"
    "138f6b7358653336c592a69e29eb696ccc4f2c6c20335d3deb76b09efd4b6a5d"
)


@pytest.fixture
def job(new_job) -> RenderJob:
    """A job rendering on Lambda as RENDER_ID, dispatched just now."""
    return new_job("rendering", backend_render_id=RENDER_ID, dispatched_at=timezone.now())


def success(job: RenderJob, render_id: str = RENDER_ID, **fields) -> dict:
    """fixtures/remotion/success.json for this job's render."""
    return remotion_webhook("success", render_id=render_id, job_id=str(job.pk), **fields)


def error(job: RenderJob, render_id: str = RENDER_ID) -> dict:
    """fixtures/remotion/error.json for this job's render."""
    return remotion_webhook("error", render_id=render_id, job_id=str(job.pk))


def post_raw(client, body: bytes, signature: str | None):
    headers = {} if signature is None else {"HTTP_X_REMOTION_SIGNATURE": signature}
    return client.post(REMOTION_WEBHOOK_URL, data=body, content_type="application/json", **headers)


def copy_jobs(job: RenderJob) -> int:
    return ProcrastinateJob.objects.filter(task_name=COPY_TASK, args={"job_id": str(job.pk)}).count()


# --- Signature ---------------------------------------------------------------------------------


def test_our_fake_signs_as_remotion_does_by_its_published_test_vector():
    # The fake behind every delivery below: if it signed otherwise, the other tests would prove nothing.
    assert remotion_signature(VECTOR_BODY, VECTOR_SECRET) == VECTOR_SIGNATURE


def test_the_endpoint_accepts_the_test_vector_signature_then_rejects_its_non_remotion_payload(client, settings):
    settings.REMOTION_WEBHOOK_SECRET = VECTOR_SECRET

    response = post_raw(client, VECTOR_BODY, VECTOR_SIGNATURE)

    # 400 (not 401): the signature passed and only the payload was refused.
    assert response.status_code == 400
    assert error_code(response) == "invalid_payload"


def test_the_endpoint_refuses_the_test_vector_when_its_secret_differs(client):
    response = post_raw(client, VECTOR_BODY, VECTOR_SIGNATURE)

    assert response.status_code == 401
    assert error_code(response) == "invalid_signature"


def test_the_endpoint_answers_503_when_no_secret_is_configured(client, settings, job):
    settings.REMOTION_WEBHOOK_SECRET = ""

    response = post_remotion_webhook(client, success(job))

    assert response.status_code == 503
    assert error_code(response) == "webhook_not_configured"
    job.refresh_from_db()
    assert job.status == "rendering"


def test_a_delivery_without_a_signature_header_is_refused(client, job):
    body, _ = remotion_delivery(success(job))

    response = post_raw(client, body, None)

    assert response.status_code == 401
    assert error_code(response) == "invalid_signature"


def test_a_delivery_signed_no_secret_provided_is_refused(client, job):
    body, _ = remotion_delivery(success(job))

    response = post_raw(client, body, "NO_SECRET_PROVIDED")

    assert response.status_code == 401
    job.refresh_from_db()
    assert job.status == "rendering"


def test_a_delivery_signed_with_another_secret_is_refused(client, job):
    response = post_remotion_webhook(client, success(job), secret="not-our-secret")

    assert response.status_code == 401
    job.refresh_from_db()
    assert job.status == "rendering"


def test_a_body_re_serialised_with_spaces_fails_the_signature_made_over_the_compact_bytes(client, job):
    payload = success(job)
    compact, headers = remotion_delivery(payload)
    spaced = json.dumps(payload).encode()
    assert spaced != compact
    assert json.loads(spaced) == json.loads(compact)

    response = client.post(REMOTION_WEBHOOK_URL, data=spaced, content_type="application/json", **headers)

    assert response.status_code == 401
    job.refresh_from_db()
    assert job.status == "rendering"


def test_a_validly_signed_body_that_is_not_json_is_refused_with_400(client):
    body = b"type=success&renderId=abc"

    response = post_raw(client, body, remotion_signature(body))

    assert response.status_code == 400
    assert error_code(response) == "invalid_payload"


def test_a_validly_signed_payload_of_an_unknown_type_is_refused_with_400(client, job):
    response = post_remotion_webhook(client, {**success(job), "type": "progress"})

    assert response.status_code == 400
    job.refresh_from_db()
    assert job.status == "rendering"


# --- Parsing ------------------------------------------------------------------------------------


def test_a_signed_success_reduces_to_its_render_job_output_and_cost():
    payload = load_fixture("remotion/success.json")
    body, headers = remotion_delivery(payload)

    report = webhook_parse(body=body, signature=headers["HTTP_X_REMOTION_SIGNATURE"])

    assert report.kind == WebhookKind.SUCCESS
    assert report.render_id == payload["renderId"]
    assert str(report.job_id) == payload["customData"]["job"]
    assert report.bucket == payload["bucketName"]
    assert report.output_url == payload["outputUrl"]
    assert report.cost == payload["costs"]["estimatedCost"]
    assert report.error_message == ""
    assert report.payload == payload


def test_a_signed_error_reduces_to_its_first_errors_message():
    payload = load_fixture("remotion/error.json")
    payload["errors"].append({"message": "a second error", "name": "Error", "stack": ""})
    body, headers = remotion_delivery(payload)

    report = webhook_parse(body=body, signature=headers["HTTP_X_REMOTION_SIGNATURE"])

    assert report.kind == WebhookKind.ERROR
    assert report.error_message == "Cannot read properties of undefined (reading 'facecam')"
    assert (report.output_url, report.cost) == ("", None)


def test_a_signed_timeout_without_custom_data_names_no_job():
    payload = {**load_fixture("remotion/timeout.json"), "customData": None}
    body, headers = remotion_delivery(payload)

    report = webhook_parse(body=body, signature=headers["HTTP_X_REMOTION_SIGNATURE"])

    assert (report.kind, report.render_id, report.job_id) == (WebhookKind.TIMEOUT, payload["renderId"], None)


def test_parsing_refuses_a_body_signed_with_another_secret_before_reading_it():
    body, headers = remotion_delivery(load_fixture("remotion/success.json"), secret="not-our-secret")

    with pytest.raises(ServiceError) as refused:
        webhook_parse(body=body, signature=headers["HTTP_X_REMOTION_SIGNATURE"])

    assert (refused.value.code, refused.value.status) == ("invalid_signature", 401)


# --- Applying deliveries ------------------------------------------------------------------------


def test_a_success_delivery_completes_the_job_with_its_cost_and_output(client, job):
    payload = success(job)

    response = post_remotion_webhook(client, payload)

    assert response.status_code == 200
    assert response.json() == {"status": "applied"}
    job.refresh_from_db()
    assert job.status == "succeeded"
    assert job.progress == 1
    assert job.cost == Decimal("0.012300")
    assert job.output_url == payload["outputUrl"]
    assert job.finished_at is not None


def test_a_success_delivery_queues_one_copy_of_the_output_into_storage(client, job):
    post_remotion_webhook(client, success(job))

    assert copy_jobs(job) == 1


def test_an_error_delivery_fails_the_job_with_the_first_errors_message(client, job):
    payload = error(job)
    payload["errors"].append({"message": "a second error", "name": "Error", "stack": ""})

    response = post_remotion_webhook(client, payload)

    assert response.json() == {"status": "applied"}
    job.refresh_from_db()
    assert job.status == "failed"
    assert job.failure_reason == "error"
    assert job.error_message == "Cannot read properties of undefined (reading 'facecam')"
    assert copy_jobs(job) == 0


def test_a_timeout_delivery_fails_the_job_as_timed_out(client, job):
    response = post_remotion_webhook(client, remotion_webhook("timeout", render_id=RENDER_ID, job_id=str(job.pk)))

    assert response.json() == {"status": "applied"}
    job.refresh_from_db()
    assert job.status == "failed"
    assert job.failure_reason == "timeout"


def test_the_delivery_is_recorded_as_a_webhook_event(client, job):
    payload = success(job)

    post_remotion_webhook(client, payload)

    event = job.events.get(kind="webhook_success")
    assert event.source == "webhook"
    assert event.payload == payload


def test_a_redelivered_webhook_is_applied_once(client, job):
    payload = success(job)

    statuses = [post_remotion_webhook(client, payload).json()["status"] for _ in range(3)]

    assert statuses == ["applied", "duplicate", "duplicate"]
    assert job.events.filter(kind="succeeded").count() == 1
    assert job.events.filter(kind="webhook_success").count() == 1
    assert copy_jobs(job) == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_redeliveries_apply_exactly_one_transition(empty_queue, job):
    body, headers = remotion_delivery(success(job))
    threads_count = 6

    def post() -> tuple[int, str]:
        response = Client().post(REMOTION_WEBHOOK_URL, data=body, content_type="application/json", **headers)
        return response.status_code, response.json()["status"]

    results = run_concurrently(post, times=threads_count)

    assert sorted(results) == [(200, "applied")] + [(200, "duplicate")] * (threads_count - 1)
    job.refresh_from_db()
    assert job.status == "succeeded"
    assert job.events.filter(kind="succeeded").count() == 1
    assert copy_jobs(job) == 1


def test_an_error_arriving_after_success_leaves_the_job_succeeded(client, job):
    post_remotion_webhook(client, success(job))

    response = post_remotion_webhook(client, error(job))

    assert response.status_code == 200
    assert response.json() == {"status": "ignored"}
    job.refresh_from_db()
    assert job.status == "succeeded"
    assert job.error_message == ""
    assert job.events.filter(kind="ignored_failed_error", source="webhook").count() == 1


def test_a_success_arriving_after_an_error_leaves_the_job_failed(client, job):
    post_remotion_webhook(client, error(job))

    response = post_remotion_webhook(client, success(job))

    assert response.json() == {"status": "ignored"}
    job.refresh_from_db()
    assert job.status == "failed"
    assert job.output_url == ""
    assert job.events.filter(kind="ignored_succeeded").count() == 1
    assert copy_jobs(job) == 0


def test_a_webhook_that_beats_the_dispatch_response_finds_the_job_by_its_custom_data(client, new_job):
    job = new_job("rendering", dispatched_at=timezone.now())  # no render id yet
    payload = success(job, render_id="early-render", bucket="remotionlambda-useast1-xyz")

    response = post_remotion_webhook(client, payload)

    assert response.json() == {"status": "applied"}
    job.refresh_from_db()
    assert job.status == "succeeded"
    assert job.backend_render_id == "early-render"
    assert job.remotion_bucket == "remotionlambda-useast1-xyz"


def test_a_webhook_for_an_unknown_render_is_acknowledged(client, job):
    payload = {**success(job, render_id="not-ours"), "customData": None}

    response = post_remotion_webhook(client, payload)

    assert response.status_code == 200
    assert response.json() == {"status": "unknown_render"}
    job.refresh_from_db()
    assert job.status == "rendering"


def test_a_webhook_naming_a_job_that_does_not_exist_is_acknowledged(client):
    payload = load_fixture("remotion/success.json")  # its custom data names no job of ours

    response = post_remotion_webhook(client, payload)

    assert response.status_code == 200
    assert response.json() == {"status": "unknown_render"}


def test_a_webhook_for_an_already_final_render_is_acknowledged_and_changes_nothing(client, new_job):
    job = new_job("cancelled", backend_render_id=RENDER_ID, dispatched_at=timezone.now())

    response = post_remotion_webhook(client, success(job))

    assert response.status_code == 200
    assert response.json() == {"status": "ignored"}
    job.refresh_from_db()
    assert job.status == "cancelled"
    assert job.output_url == ""
    assert copy_jobs(job) == 0


def test_a_late_webhook_from_a_render_the_job_no_longer_tracks_does_not_decide_it(client, new_job):
    job = new_job("rendering", backend_render_id="old-render", dispatched_at=timezone.now())
    services.render_job_cancel(job=job)
    services.render_job_retry(job=job)
    RenderJob.objects.filter(pk=job.pk).update(status="rendering", backend_render_id="new-render")

    post_remotion_webhook(client, error(job, render_id="old-render"))

    job.refresh_from_db()
    assert job.status == "rendering"


def test_a_late_webhook_from_before_a_retry_is_ignored_until_the_new_render_starts(client, new_job):
    job = new_job("rendering", backend_render_id="old-render", dispatched_at=timezone.now())
    RenderEvent.objects.create(job=job, kind="dispatched", source="worker", payload={"render_id": "old-render"})
    services.render_job_cancel(job=job)
    services.render_job_retry(job=job)  # queued again, no render id yet

    response = post_remotion_webhook(client, error(job, render_id="old-render"))

    assert response.json() == {"status": "stale_render"}
    job.refresh_from_db()
    assert job.status == "queued"
