"""Remotion Lambda's webhook: verified over the raw body, applied once, in any order."""

import json
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone
from procrastinate.contrib.django.models import ProcrastinateJob
from remotion_lambda.exception import RemotionException
from remotion_lambda.webhook import validate_webhook_signature

from core.tests.concurrency import run_concurrently
from renders import services
from renders.models import RenderEvent, RenderJob
from renders.tests.conftest import WEBHOOK_SECRET, WEBHOOK_URL, remotion_delivery, remotion_signature, success_payload

pytestmark = pytest.mark.django_db

COPY_TASK = "renders.tasks.copy_render_output"
LAYOUT = {"trim_start": 0.0, "trim_end": 3.0, "aspect": "9:16", "layout": "fill"}
RENDER_ID = "8tq1x2k9ab"

# Remotion's published test vector (../shared/reference/remotion.md).
VECTOR_SECRET = "INSECURE_DEFAULT_SECRET"
VECTOR_BODY = b'{"payload":"test"}'
VECTOR_SIGNATURE = (
    "sha512=faa8735b7bac44d521749b45aa2c95cb6204822f54eb18f85aeb30b9a29d309a"
    "138f6b7358653336c592a69e29eb696ccc4f2c6c20335d3deb76b09efd4b6a5d"
)


@pytest.fixture
def make_job(owner, ready_clip, preset, remotion_settings):
    def make(status: str = "rendering", render_id: str | None = RENDER_ID) -> RenderJob:
        job = services.render_job_create(owner=owner, clip=ready_clip, preset=preset, input_props=dict(LAYOUT))
        RenderJob.objects.filter(pk=job.pk).update(
            status=status, backend_render_id=render_id, dispatched_at=timezone.now()
        )
        job.refresh_from_db()
        return job

    return make


@pytest.fixture
def job(make_job) -> RenderJob:
    return make_job()


def deliver(client, payload: dict, *, secret: str = WEBHOOK_SECRET):
    body, headers = remotion_delivery(payload, secret=secret)
    return client.post(WEBHOOK_URL, data=body, content_type="application/json", **headers)


def post_raw(client, body: bytes, signature: str | None):
    headers = {} if signature is None else {"HTTP_X_REMOTION_SIGNATURE": signature}
    return client.post(WEBHOOK_URL, data=body, content_type="application/json", **headers)


def error_payload(*, render_id: str, job_id: str, message: str = "Composition VerticalShort crashed") -> dict:
    return {
        "type": "error",
        "renderId": render_id,
        "expectedBucketOwner": "123456789012",
        "bucketName": "remotionlambda-useast1-abc",
        "customData": {"job": job_id},
        "errors": [
            {"message": message, "name": "Error", "stack": "Error: ...\n    at render"},
            {"message": "a second error", "name": "Error", "stack": ""},
        ],
    }


def timeout_payload(*, render_id: str, job_id: str) -> dict:
    return {
        "type": "timeout",
        "renderId": render_id,
        "expectedBucketOwner": "123456789012",
        "bucketName": "remotionlambda-useast1-abc",
        "customData": {"job": job_id},
    }


def copy_jobs(job: RenderJob) -> int:
    return ProcrastinateJob.objects.filter(task_name=COPY_TASK, args={"job_id": str(job.pk)}).count()


def error_code(response) -> str:
    return response.json()["error"]["code"]


# --- Signature ---------------------------------------------------------------------------------


def test_the_sdk_accepts_remotions_published_test_vector():
    assert validate_webhook_signature(VECTOR_SECRET, VECTOR_BODY, VECTOR_SIGNATURE) is None


def test_our_signature_helper_reproduces_remotions_published_test_vector():
    assert remotion_signature(VECTOR_BODY, VECTOR_SECRET) == VECTOR_SIGNATURE


def test_the_sdk_rejects_the_test_vector_signed_with_another_secret():
    with pytest.raises(RemotionException):
        validate_webhook_signature("another-secret", VECTOR_BODY, VECTOR_SIGNATURE)


def test_the_endpoint_accepts_the_test_vector_signature_then_rejects_its_non_remotion_payload(client, settings):
    settings.REMOTION_WEBHOOK_SECRET = VECTOR_SECRET

    response = post_raw(client, VECTOR_BODY, VECTOR_SIGNATURE)

    # 400 (not 401): the signature passed and only the payload was refused.
    assert response.status_code == 400
    assert error_code(response) == "invalid_payload"


def test_the_endpoint_refuses_the_test_vector_when_its_secret_differs(client, remotion_settings):
    response = post_raw(client, VECTOR_BODY, VECTOR_SIGNATURE)

    assert response.status_code == 401
    assert error_code(response) == "invalid_signature"


def test_the_endpoint_answers_503_when_no_secret_is_configured(client, settings, job):
    settings.REMOTION_WEBHOOK_SECRET = ""

    response = deliver(client, success_payload(render_id=RENDER_ID, job_id=str(job.pk)))

    assert response.status_code == 503
    assert error_code(response) == "webhook_not_configured"
    job.refresh_from_db()
    assert job.status == "rendering"


def test_a_delivery_without_a_signature_header_is_refused(client, job):
    body, _ = remotion_delivery(success_payload(render_id=RENDER_ID, job_id=str(job.pk)))

    response = post_raw(client, body, None)

    assert response.status_code == 401
    assert error_code(response) == "invalid_signature"


def test_a_delivery_signed_no_secret_provided_is_refused(client, job):
    body, _ = remotion_delivery(success_payload(render_id=RENDER_ID, job_id=str(job.pk)))

    response = post_raw(client, body, "NO_SECRET_PROVIDED")

    assert response.status_code == 401
    job.refresh_from_db()
    assert job.status == "rendering"


def test_a_delivery_signed_with_another_secret_is_refused(client, job):
    response = deliver(client, success_payload(render_id=RENDER_ID, job_id=str(job.pk)), secret="not-our-secret")

    assert response.status_code == 401
    job.refresh_from_db()
    assert job.status == "rendering"


def test_a_body_re_serialised_with_spaces_fails_the_signature_made_over_the_compact_bytes(client, job):
    payload = success_payload(render_id=RENDER_ID, job_id=str(job.pk))
    compact, headers = remotion_delivery(payload)
    spaced = json.dumps(payload).encode()
    assert spaced != compact
    assert json.loads(spaced) == json.loads(compact)

    response = client.post(WEBHOOK_URL, data=spaced, content_type="application/json", **headers)

    assert response.status_code == 401
    job.refresh_from_db()
    assert job.status == "rendering"


def test_a_validly_signed_body_that_is_not_json_is_refused_with_400(client, remotion_settings):
    body = b"type=success&renderId=abc"

    response = post_raw(client, body, remotion_signature(body))

    assert response.status_code == 400
    assert error_code(response) == "invalid_payload"


def test_a_validly_signed_payload_of_an_unknown_type_is_refused_with_400(client, job):
    payload = {**success_payload(render_id=RENDER_ID, job_id=str(job.pk)), "type": "progress"}

    response = deliver(client, payload)

    assert response.status_code == 400
    job.refresh_from_db()
    assert job.status == "rendering"


# --- Applying deliveries ------------------------------------------------------------------------


def test_a_success_delivery_completes_the_job_with_its_cost_and_output(client, job):
    payload = success_payload(render_id=RENDER_ID, job_id=str(job.pk))

    response = deliver(client, payload)

    assert response.status_code == 200
    assert response.json() == {"status": "applied"}
    job.refresh_from_db()
    assert job.status == "succeeded"
    assert job.progress == 1
    assert job.cost == Decimal("0.012300")
    assert job.output_url == payload["outputUrl"]
    assert job.finished_at is not None


def test_a_success_delivery_queues_one_copy_of_the_output_into_storage(client, job):
    deliver(client, success_payload(render_id=RENDER_ID, job_id=str(job.pk)))

    assert copy_jobs(job) == 1


def test_an_error_delivery_fails_the_job_with_the_first_errors_message(client, job):
    response = deliver(client, error_payload(render_id=RENDER_ID, job_id=str(job.pk)))

    assert response.json() == {"status": "applied"}
    job.refresh_from_db()
    assert job.status == "failed"
    assert job.failure_reason == "error"
    assert job.error_message == "Composition VerticalShort crashed"
    assert copy_jobs(job) == 0


def test_a_timeout_delivery_fails_the_job_as_timed_out(client, job):
    response = deliver(client, timeout_payload(render_id=RENDER_ID, job_id=str(job.pk)))

    assert response.json() == {"status": "applied"}
    job.refresh_from_db()
    assert job.status == "failed"
    assert job.failure_reason == "timeout"


def test_the_delivery_is_recorded_as_a_webhook_event(client, job):
    payload = success_payload(render_id=RENDER_ID, job_id=str(job.pk))

    deliver(client, payload)

    event = job.events.get(kind="webhook_success")
    assert event.source == "webhook"
    assert event.payload == payload


def test_a_redelivered_webhook_is_applied_once(client, job):
    payload = success_payload(render_id=RENDER_ID, job_id=str(job.pk))

    statuses = [deliver(client, payload).json()["status"] for _ in range(3)]

    assert statuses == ["applied", "duplicate", "duplicate"]
    assert job.events.filter(kind="succeeded").count() == 1
    assert job.events.filter(kind="webhook_success").count() == 1
    assert copy_jobs(job) == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_redeliveries_apply_exactly_one_transition(job, run_queued_jobs):
    # run_queued_jobs is only used for its clean queue tables: nothing is run.
    body, headers = remotion_delivery(success_payload(render_id=RENDER_ID, job_id=str(job.pk)))
    threads_count = 6

    def post() -> tuple[int, str]:
        response = Client().post(WEBHOOK_URL, data=body, content_type="application/json", **headers)
        return response.status_code, response.json()["status"]

    results = run_concurrently(post, times=threads_count)

    assert sorted(results) == [(200, "applied")] + [(200, "duplicate")] * (threads_count - 1)
    job.refresh_from_db()
    assert job.status == "succeeded"
    assert job.events.filter(kind="succeeded").count() == 1
    assert copy_jobs(job) == 1


def test_an_error_arriving_after_success_leaves_the_job_succeeded(client, job):
    deliver(client, success_payload(render_id=RENDER_ID, job_id=str(job.pk)))

    response = deliver(client, error_payload(render_id=RENDER_ID, job_id=str(job.pk)))

    assert response.status_code == 200
    assert response.json() == {"status": "ignored"}
    job.refresh_from_db()
    assert job.status == "succeeded"
    assert job.error_message == ""
    assert job.events.filter(kind="ignored_failed_error", source="webhook").count() == 1


def test_a_success_arriving_after_an_error_leaves_the_job_failed(client, job):
    deliver(client, error_payload(render_id=RENDER_ID, job_id=str(job.pk)))

    response = deliver(client, success_payload(render_id=RENDER_ID, job_id=str(job.pk)))

    assert response.json() == {"status": "ignored"}
    job.refresh_from_db()
    assert job.status == "failed"
    assert job.output_url == ""
    assert job.events.filter(kind="ignored_succeeded").count() == 1
    assert copy_jobs(job) == 0


def test_a_webhook_that_beats_the_dispatch_response_finds_the_job_by_its_custom_data(client, make_job):
    job = make_job(render_id=None)
    payload = success_payload(render_id="early-render", job_id=str(job.pk), bucket="remotionlambda-useast1-xyz")

    response = deliver(client, payload)

    assert response.json() == {"status": "applied"}
    job.refresh_from_db()
    assert job.status == "succeeded"
    assert job.backend_render_id == "early-render"
    assert job.remotion_bucket == "remotionlambda-useast1-xyz"


def test_a_webhook_for_an_unknown_render_is_acknowledged(client, remotion_settings, job):
    payload = {**success_payload(render_id="not-ours", job_id=str(job.pk)), "customData": None}

    response = deliver(client, payload)

    assert response.status_code == 200
    assert response.json() == {"status": "unknown_render"}
    job.refresh_from_db()
    assert job.status == "rendering"


def test_a_webhook_naming_a_job_that_does_not_exist_is_acknowledged(client, remotion_settings):
    payload = success_payload(render_id="not-ours", job_id="5f0c6a8e-7b61-4d4e-9a55-0c1f0c7d2b11")

    response = deliver(client, payload)

    assert response.status_code == 200
    assert response.json() == {"status": "unknown_render"}


def test_a_webhook_for_an_already_final_render_is_acknowledged_and_changes_nothing(client, make_job):
    job = make_job(status="cancelled")

    response = deliver(client, success_payload(render_id=RENDER_ID, job_id=str(job.pk)))

    assert response.status_code == 200
    assert response.json() == {"status": "ignored"}
    job.refresh_from_db()
    assert job.status == "cancelled"
    assert job.output_url == ""
    assert copy_jobs(job) == 0


def test_a_late_webhook_from_a_render_the_job_no_longer_tracks_does_not_decide_it(client, make_job):
    job = make_job(render_id="old-render")
    services.render_job_cancel(job=job)
    services.render_job_retry(job=job)
    RenderJob.objects.filter(pk=job.pk).update(status="rendering", backend_render_id="new-render")

    deliver(client, error_payload(render_id="old-render", job_id=str(job.pk)))

    job.refresh_from_db()
    assert job.status == "rendering"


def test_a_late_webhook_from_before_a_retry_is_ignored_until_the_new_render_starts(client, make_job):
    job = make_job(render_id="old-render")
    RenderEvent.objects.create(job=job, kind="dispatched", source="worker", payload={"render_id": "old-render"})
    services.render_job_cancel(job=job)
    services.render_job_retry(job=job)  # queued again, no render id yet

    response = deliver(client, error_payload(render_id="old-render", job_id=str(job.pk)))

    assert response.json() == {"status": "stale_render"}
    job.refresh_from_db()
    assert job.status == "queued"
