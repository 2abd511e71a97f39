"""Lambda starts whose outcome is unknown: waited for, started again at most once, their orphans' costs kept.

A read timeout (or a connection dropped) after the start request was sent may have started a
paid render. Only boto3's `lambda.invoke` is faked (the `fake_lambda` fixture): the SDK and our
backend build and classify everything else for real.
"""

from datetime import timedelta

import pytest
from botocore.exceptions import (
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)
from django.utils import timezone
from procrastinate.contrib.django.models import ProcrastinateJob

from integrations.tests.fakes import post_remotion_webhook, remotion_webhook
from renders import services
from renders.models import RenderEvent, RenderJob

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("ambiguous_settings")]

DISPATCH_TASK = "renders.tasks.dispatch_render"
DISPATCH_TIMEOUT = 300
LAMBDA_URL = "https://lambda.us-east-1.amazonaws.com/2015-03-31/functions/remotion-render/invocations"
LOST_RENDER = "lost-render-1"  # what Lambda started for a start whose answer we never got


@pytest.fixture
def ambiguous_settings(remotion_settings):
    remotion_settings.RENDER_DISPATCH_TIMEOUT_SECONDS = DISPATCH_TIMEOUT
    return remotion_settings


def read_timeout() -> ReadTimeoutError:
    return ReadTimeoutError(endpoint_url=LAMBDA_URL)


def dispatches_queued(job: RenderJob) -> int:
    return ProcrastinateJob.objects.filter(task_name=DISPATCH_TASK, args={"job_id": str(job.pk)}).count()


def past_dispatch_timeout(job: RenderJob) -> None:
    """As if RENDER_DISPATCH_TIMEOUT_SECONDS had passed since the job's last start, with no answer."""
    RenderJob.objects.filter(pk=job.pk).update(dispatched_at=timezone.now() - timedelta(seconds=DISPATCH_TIMEOUT + 30))


def dispatch(job: RenderJob) -> str:
    return services.render_dispatch(job_id=str(job.pk))


def webhook(client, job: RenderJob, render_id: str, kind: str = "success") -> str:
    payload = remotion_webhook(kind, render_id=render_id, job_id=str(job.pk))
    return post_remotion_webhook(client, payload).json()["status"]


# --- A start that timed out waits for its render -------------------------------------------------


@pytest.mark.parametrize("lost_answer", [read_timeout(), ConnectionClosedError(endpoint_url=LAMBDA_URL)])
def test_a_start_lost_after_sending_waits_for_its_render_instead_of_starting_again(fake_lambda, new_job, lost_answer):
    fake_lambda.answer(lost_answer)
    job = new_job()
    queued_before = dispatches_queued(job)

    outcome = dispatch(job)

    assert outcome == "outcome_unknown"
    job.refresh_from_db()
    assert (job.status, job.backend_render_id, job.attempts) == ("rendering", None, 1)
    assert job.dispatched_at is not None
    assert dispatches_queued(job) == queued_before  # no retry queued
    event = job.events.get(kind="dispatch_outcome_unknown")
    assert event.payload["attempt"] == 1
    assert type(lost_answer).__name__ in event.payload["error"]
    assert not job.events.filter(kind="dispatch_deferred").exists()
    assert len(fake_lambda.starts) == 1


def test_the_webhook_of_a_start_that_timed_out_completes_the_job_with_a_single_render(client, fake_lambda, new_job):
    fake_lambda.answer(read_timeout())
    job = new_job()
    dispatch(job)

    # Within the dispatch timeout nothing starts it again: not a reconcile, nor a dispatch once any backoff is over.
    assert services.renders_reconcile().requeued == []
    RenderJob.objects.filter(pk=job.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    assert dispatch(job) == "not_due"
    status = webhook(client, job, LOST_RENDER)

    assert status == "applied"
    job.refresh_from_db()
    assert (job.status, job.backend_render_id) == ("succeeded", LOST_RENDER)
    assert len(fake_lambda.calls) == 1


# --- Started once more after the dispatch timeout -----------------------------------------------


def test_a_start_never_confirmed_is_started_once_more_and_the_lost_renders_cost_is_kept(client, fake_lambda, new_job):
    fake_lambda.answer(read_timeout())
    job = new_job()
    dispatch(job)
    past_dispatch_timeout(job)

    report = services.renders_reconcile()
    outcome = dispatch(job)

    assert report.requeued == [str(job.pk)]
    assert outcome == "dispatched"
    job.refresh_from_db()
    second_render = job.backend_render_id
    assert second_render

    # The first render's webhook arrives late: it must not decide the job, but it was paid for.
    assert [webhook(client, job, LOST_RENDER) for _ in range(2)] == ["stale_render", "stale_render"]
    job.refresh_from_db()
    assert (job.status, job.backend_render_id) == ("rendering", second_render)
    (orphan,) = job.events.filter(kind="orphan_render")
    assert orphan.source == "webhook"
    assert orphan.payload["render_id"] == LOST_RENDER
    assert orphan.payload["cost"] == "0.012300"

    assert webhook(client, job, second_render) == "applied"
    job.refresh_from_db()
    assert job.status == "succeeded"
    assert len(fake_lambda.starts) == 2


def test_a_lost_renders_webhook_arriving_before_the_second_start_completes_the_job_without_it(
    client, fake_lambda, new_job
):
    fake_lambda.answer(read_timeout())
    job = new_job()
    dispatch(job)
    past_dispatch_timeout(job)
    services.renders_reconcile()  # queued for a second start

    status = webhook(client, job, LOST_RENDER)

    assert status == "applied"
    assert dispatch(job) == "not_due"
    job.refresh_from_db()
    assert (job.status, job.backend_render_id) == ("succeeded", LOST_RENDER)
    assert len(fake_lambda.starts) == 1


# --- Never a third start ---------------------------------------------------------------------


def test_two_unconfirmed_starts_in_a_row_fail_the_job_without_a_third(fake_lambda, new_job):
    fake_lambda.answer(read_timeout(), read_timeout())
    job = new_job()
    dispatch(job)
    past_dispatch_timeout(job)
    services.renders_reconcile()
    assert dispatch(job) == "outcome_unknown"
    past_dispatch_timeout(job)
    assert services.renders_reconcile(dry_run=True).unconfirmed == [str(job.pk)]

    report = services.renders_reconcile()

    assert report.requeued == []
    assert report.unconfirmed == [str(job.pk)]
    job.refresh_from_db()
    assert (job.status, job.failure_reason) == ("failed", "dispatch")
    assert job.error_message.startswith("Lambda did not confirm the render twice")
    assert dispatch(job) == "not_due"
    services.renders_reconcile()
    assert len(fake_lambda.starts) == 2


def test_a_late_webhook_of_a_job_failed_for_unconfirmed_starts_is_kept_as_an_orphan(client, fake_lambda, new_job):
    fake_lambda.answer(read_timeout(), read_timeout())
    job = new_job()
    for _ in range(2):
        dispatch(job)
        past_dispatch_timeout(job)
        services.renders_reconcile()

    status = webhook(client, job, LOST_RENDER)

    assert status == "stale_render"
    job.refresh_from_db()
    assert (job.status, job.backend_render_id) == ("failed", None)
    assert job.events.get(kind="orphan_render").payload["render_id"] == LOST_RENDER


def test_a_retried_job_may_again_be_started_twice(fake_lambda, new_job):
    fake_lambda.answer(read_timeout(), read_timeout(), read_timeout())
    job = new_job()
    for _ in range(2):
        dispatch(job)
        past_dispatch_timeout(job)
        services.renders_reconcile()
    job.refresh_from_db()
    services.render_job_retry(job=job)
    dispatch(job)
    past_dispatch_timeout(job)

    report = services.renders_reconcile()

    assert report.requeued == [str(job.pk)]
    assert dispatch(job) == "dispatched"
    assert len(fake_lambda.starts) == 4


# --- Nothing sent: retried as before ------------------------------------------------------------


@pytest.mark.parametrize(
    "unsent", [ConnectTimeoutError(endpoint_url=LAMBDA_URL), EndpointConnectionError(endpoint_url=LAMBDA_URL)]
)
def test_a_start_that_never_reached_lambda_is_retried_with_backoff(fake_lambda, new_job, unsent):
    fake_lambda.answer(unsent)
    job = new_job()

    outcome = dispatch(job)

    assert outcome == "retrying"
    job.refresh_from_db()
    assert (job.status, job.dispatched_at) == ("queued", None)
    assert job.next_attempt_at > timezone.now()
    assert not job.events.filter(kind="dispatch_outcome_unknown").exists()
    RenderJob.objects.filter(pk=job.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    assert dispatch(job) == "dispatched"
    assert len(fake_lambda.starts) == 2


# --- Orphans of a retry ------------------------------------------------------------------------


def test_a_render_of_an_attempt_before_a_retry_is_kept_as_an_orphan(client, new_job):
    job = new_job("rendering", backend_render_id="old-render", dispatched_at=timezone.now())
    RenderEvent.objects.create(job=job, kind="dispatched", source="worker", payload={"render_id": "old-render"})
    services.render_job_cancel(job=job)
    services.render_job_retry(job=job)  # queued again, no render id yet

    status = webhook(client, job, "old-render")

    assert status == "stale_render"
    job.refresh_from_db()
    assert (job.status, job.cost) == ("queued", None)
    orphan = job.events.get(kind="orphan_render")
    assert (orphan.payload["render_id"], orphan.payload["cost"]) == ("old-render", "0.012300")
