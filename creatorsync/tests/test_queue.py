"""Jobs are deferred inside the caller's transaction and run by a real worker."""

import pytest
from django.db import transaction
from procrastinate.contrib.django import app
from procrastinate.contrib.django.models import ProcrastinateJob

from accounts.models import User

pytestmark = pytest.mark.django_db(transaction=True)


@app.task(name="tests.create_marker_user")
def create_marker_user(username: str) -> None:
    User.objects.create(username=username)


class Rollback(Exception):
    pass


@transaction.atomic
def defer_then_fail() -> None:
    create_marker_user.defer(username="rolled-back")
    raise Rollback


def test_a_committed_job_runs(run_queued_jobs):
    with transaction.atomic():
        create_marker_user.defer(username="committed")
    run_queued_jobs()
    assert User.objects.filter(username="committed").exists()
    assert ProcrastinateJob.objects.get(task_name="tests.create_marker_user").status == "succeeded"


def test_a_rolled_back_transaction_enqueues_nothing(run_queued_jobs):
    with pytest.raises(Rollback):
        defer_then_fail()
    run_queued_jobs()
    assert not ProcrastinateJob.objects.filter(task_name="tests.create_marker_user").exists()
    assert not User.objects.filter(username="rolled-back").exists()


def test_housekeeping_tasks_are_scheduled_periodically():
    periodic_ids = {task.periodic_id for task in app.periodic_registry.periodic_tasks.values()}
    assert {"retry_stalled_jobs", "prune_finished_jobs"} <= periodic_ids
