"""Admin actions over a selection: every row is done, skipped or refused, and staff are told which."""

from datetime import UTC, datetime, timedelta

import pytest
from botocore.exceptions import ClientError
from django.contrib import messages as levels
from django.utils import timezone
from procrastinate.contrib.django.models import ProcrastinateJob

from core.tests.helpers import run_action, run_action_with_levels
from integrations.tests.fakes import FakeLambda
from renders.models import RenderEvent, RenderJob
from renders.tests.factories import make_job, make_preset

pytestmark = pytest.mark.django_db

JOBS = "/admin/renders/renderjob/"
DISPATCH_TASK = "renders.tasks.dispatch_render"
ADMIN = RenderEvent.Source.ADMIN
NOT_IN_STATE = "not in a state for it"
Status = RenderJob.Status


def failed_job(owner, clip, preset, **fields) -> RenderJob:
    return make_job(owner, clip, preset, status=Status.FAILED, failure_reason="error", **fields)


def statuses(*jobs: RenderJob) -> list[str]:
    return [RenderJob.objects.get(pk=job.pk).status for job in jobs]


def dispatches() -> int:
    return ProcrastinateJob.objects.filter(task_name=DISPATCH_TASK).count()


def month_age() -> timedelta:
    """How long ago this month began: a job older than that was created last month."""
    now = timezone.now()
    return now - now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def next_month_start() -> datetime:
    now = timezone.now()
    return datetime(now.year + now.month // 12, now.month % 12 + 1, 1, tzinfo=UTC)


def monthly_limit_message(limit: int) -> str:
    return f"You have used all {limit} renders of this month; the limit resets on {next_month_start():%Y-%m-%d}."


@pytest.fixture
def render_limits(settings):
    """`render_limits(**payload)`: the owner's plan, as the render-limits flag's default payload."""

    def plan(**payload) -> None:
        settings.FEATURE_FLAG_DEFAULTS = {settings.RENDER_LIMITS_FLAG: {"enabled": True, "payload": payload}}

    return plan


# --- Retry within the render limits ---------------------------------------------------------------


def test_retrying_more_jobs_than_the_plan_allows_retries_what_fits_and_names_each_refusal(
    staff_client, owner, clip, preset, render_limits
):
    render_limits(monthly_renders=2)
    make_job(owner, clip, preset, status=Status.SUCCEEDED)  # one render used: one more allowed
    jobs = [failed_job(owner, clip, preset) for _ in range(3)]
    before = dispatches()

    shown = run_action_with_levels(staff_client, JOBS, "retry", jobs)

    assert sorted(statuses(*jobs)) == [Status.FAILED, Status.FAILED, Status.QUEUED]
    assert dispatches() == before + 1
    refused = [job for job in jobs if RenderJob.objects.get(pk=job.pk).status == Status.FAILED]
    limit = monthly_limit_message(2)
    assert sorted(shown[:-1]) == sorted((levels.ERROR, f"{job}: {limit}") for job in refused)
    assert shown[-1] == (levels.SUCCESS, "Retried 1 of 3. Refused 2: see above.")


def test_a_retry_the_plans_resolution_forbids_is_refused_by_name(staff_client, owner, clip, render_limits):
    render_limits(max_output_height=1280)
    full_hd = make_preset(name="Vertical 1080p", slug="vertical-1080p", width=1080, height=1920)
    job = failed_job(owner, clip, full_hd)

    shown = run_action_with_levels(staff_client, JOBS, "retry", [job])

    assert shown == [
        (levels.ERROR, f"{job}: Your plan renders up to 1280p; this preset and aspect render 1920p."),
        (levels.WARNING, "Retried 0 of 1. Refused 1: see above."),
    ]
    assert statuses(job) == [Status.FAILED]


def test_a_retry_selection_reports_done_skipped_and_refused_rows_apart(
    staff_client, owner, clip, preset, render_limits
):
    render_limits(monthly_renders=1)
    # The changelist lists the newest first, and the action goes down the list in that order.
    retried = failed_job(owner, clip, preset, age=timedelta(minutes=1))
    refused = failed_job(owner, clip, preset, age=timedelta(minutes=2))
    # Created last month, so it takes none of this month's one render.
    rendering = make_job(owner, clip, preset, status=Status.RENDERING, age=month_age() + timedelta(days=1))

    shown = run_action(staff_client, JOBS, "retry", [refused, rendering, retried])

    assert shown == [
        f"{refused}: {monthly_limit_message(1)}",
        f"Retried 1 of 3. Skipped 1: {NOT_IN_STATE}. Refused 1: see above.",
    ]
    assert statuses(retried, refused, rendering) == [Status.QUEUED, Status.FAILED, Status.RENDERING]


def test_retries_of_last_months_jobs_count_against_this_months_plan(staff_client, owner, clip, preset, render_limits):
    render_limits(monthly_renders=1)
    jobs = [failed_job(owner, clip, preset, age=month_age() + timedelta(days=3)) for _ in range(3)]

    shown = run_action_with_levels(staff_client, JOBS, "retry", jobs)

    assert shown[-1] == (levels.SUCCESS, "Retried 1 of 3. Refused 2: see above.")
    assert sorted(statuses(*jobs)) == [Status.FAILED, Status.FAILED, Status.QUEUED]


def test_retrying_jobs_that_are_not_failed_or_cancelled_skips_them_all(staff_client, owner, clip, preset):
    jobs = [make_job(owner, clip, preset, status=status) for status in (Status.QUEUED, Status.SUCCEEDED)]
    before = dispatches()

    shown = run_action_with_levels(staff_client, JOBS, "retry", jobs)

    assert shown == [(levels.WARNING, f"Retried 0 of 2. Skipped 2: {NOT_IN_STATE}.")]
    assert statuses(*jobs) == [Status.QUEUED, Status.SUCCEEDED]
    assert dispatches() == before


# --- Cancel and mark failed skip final jobs ---------------------------------------------------------


def test_cancelling_final_jobs_skips_and_counts_them(staff_client, owner, clip, preset):
    queued = make_job(owner, clip, preset)
    finals = [
        make_job(owner, clip, preset, status=status) for status in (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)
    ]

    shown = run_action_with_levels(staff_client, JOBS, "cancel", [queued, *finals])

    assert shown == [(levels.SUCCESS, f"Cancelled 1 of 4. Skipped 3: {NOT_IN_STATE}.")]
    assert statuses(queued, *finals) == [Status.CANCELLED, Status.SUCCEEDED, Status.FAILED, Status.CANCELLED]
    for job in finals:
        assert job.events.filter(kind="ignored_cancelled", source=ADMIN).count() == 1
        assert not job.events.filter(kind="cancelled").exists()


def test_cancelling_only_final_jobs_warns_that_nothing_was_done(staff_client, owner, clip, preset):
    succeeded = make_job(owner, clip, preset, status=Status.SUCCEEDED)

    shown = run_action_with_levels(staff_client, JOBS, "cancel", [succeeded])

    assert shown == [(levels.WARNING, f"Cancelled 0 of 1. Skipped 1: {NOT_IN_STATE}.")]


def test_marking_final_jobs_failed_skips_and_counts_them(staff_client, owner, clip, preset):
    succeeded = make_job(owner, clip, preset, status=Status.SUCCEEDED)
    cancelled = make_job(owner, clip, preset, status=Status.CANCELLED, failure_reason="cancelled")

    shown = run_action_with_levels(staff_client, JOBS, "mark_failed", [succeeded, cancelled])

    assert shown == [(levels.WARNING, f"Marked failed 0 of 2. Skipped 2: {NOT_IN_STATE}.")]
    assert statuses(succeeded, cancelled) == [Status.SUCCEEDED, Status.CANCELLED]
    assert RenderJob.objects.get(pk=cancelled.pk).failure_reason == "cancelled"


# --- Re-poll ----------------------------------------------------------------------------------------


@pytest.fixture
def lambda_down(fake_lambda, remotion_settings) -> FakeLambda:
    """The next Lambda invocation fails as AWS does when the service is in trouble."""
    fake_lambda.answer(ClientError({"Error": {"Code": "ServiceException", "Message": "Lambda is down"}}, "Invoke"))
    return fake_lambda


def test_repolling_when_the_backend_does_not_answer_skips_the_job_and_keeps_it_rendering(
    staff_client, owner, clip, preset, lambda_down
):
    on_lambda = make_job(
        owner,
        clip,
        preset,
        backend=RenderJob.Backend.REMOTION_LAMBDA,
        status=Status.RENDERING,
        backend_render_id="render-1",
        remotion_bucket="remotionlambda-useast1-abc123",
        dispatched_at=timezone.now() - timedelta(minutes=5),
    )
    not_dispatched = make_job(owner, clip, preset, backend=RenderJob.Backend.REMOTION_LAMBDA)

    shown = run_action_with_levels(staff_client, JOBS, "repoll", [on_lambda, not_dispatched])

    assert shown == [
        (levels.WARNING, "Re-polled 0 of 2. Skipped 2: not dispatched yet, or the backend did not answer.")
    ]
    assert len(lambda_down.calls) == 1
    assert statuses(on_lambda, not_dispatched) == [Status.RENDERING, Status.QUEUED]
    assert RenderJob.objects.get(pk=on_lambda.pk).last_polled_at is not None
