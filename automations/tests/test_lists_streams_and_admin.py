"""Constant queries of the lists, streams whose notifications come out of order, and the admin of automations."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from automations.models import Automation, AutomationRun, Stream
from automations.streams import stream_ended, stream_started
from clips.tests.factories import make_clip
from renders.models import RenderTemplate

pytestmark = pytest.mark.django_db


def make_templates(owner, preset, count: int, start: int = 0) -> list[RenderTemplate]:
    return [
        RenderTemplate.objects.create(
            owner=owner, name=f"Template {start + n}", preset=preset, props={"layout": "fill"}
        )
        for n in range(count)
    ]


def queries_of(api_client, bearer, owner, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert api_client.get(url, **bearer(owner)).status_code == 200
    return len(queries)


def test_the_template_and_automation_lists_take_the_same_queries_for_1_or_5_rows(api_client, bearer, owner, preset):
    [first] = make_templates(owner, preset, 1)
    Automation.objects.create(owner=owner, name="A", template=first)
    one = [queries_of(api_client, bearer, owner, url) for url in ("/api/templates/", "/api/automations/")]

    for template in make_templates(owner, preset, 4, start=1):
        Automation.objects.create(owner=owner, name=template.name, template=template)
    five = [queries_of(api_client, bearer, owner, url) for url in ("/api/templates/", "/api/automations/")]

    assert one == five


# --- Streams whose notifications come out of order ---------------------------------------------------


def test_a_stream_online_delivered_after_its_offline_gives_that_stream_its_start(streamer):
    broadcaster = streamer.twitch_account.twitch_user_id
    ended = stream_ended(broadcaster_user_id=broadcaster, ended_at=timezone.now())
    started_at = timezone.now() - timedelta(hours=2)

    stream = stream_started(broadcaster_user_id=broadcaster, event={"id": "9001", "started_at": started_at.isoformat()})

    assert stream.pk == ended.pk
    stream.refresh_from_db()
    assert (stream.twitch_stream_id, stream.started_at, stream.ended_at) == ("9001", started_at, ended.ended_at)
    assert Stream.objects.count() == 1


def test_a_stream_that_lost_its_offline_is_closed_by_the_next_ones_start(streamer):
    broadcaster = streamer.twitch_account.twitch_user_id
    day_ago = timezone.now() - timedelta(days=1)
    old = stream_started(broadcaster_user_id=broadcaster, event={"id": "1", "started_at": day_ago.isoformat()})
    now = timezone.now()

    new = stream_started(broadcaster_user_id=broadcaster, event={"id": "2", "started_at": now.isoformat()})

    old.refresh_from_db()
    assert old.ended_at == now
    assert new.ended_at is None
    # The next stream.offline closes the new stream, not the old one.
    assert stream_ended(broadcaster_user_id=broadcaster, ended_at=timezone.now()).pk == new.pk


# --- Admin ----------------------------------------------------------------------------------------


@pytest.fixture
def runs(owner, preset):
    template = RenderTemplate.objects.create(owner=owner, name="T", preset=preset, props={"layout": "fill"})
    automation = Automation.objects.create(owner=owner, name="Best clips", template=template)
    stale = timezone.now() - timedelta(hours=2)
    overdue = AutomationRun.objects.create(
        automation=automation, clip=make_clip(owner), batch="b", step="render", next_check_at=stale
    )
    fresh = AutomationRun.objects.create(automation=automation, clip=make_clip(owner), batch="b", step="media")
    finished = AutomationRun.objects.create(
        automation=automation, clip=make_clip(owner), batch="b", status="failed", step="render", next_check_at=stale
    )
    return overdue, fresh, finished


def test_the_stuck_filter_shows_running_runs_whose_check_is_long_overdue(staff_client, runs):
    overdue, _fresh, _finished = runs

    response = staff_client.get("/admin/automations/automationrun/?stuck=yes")

    assert response.status_code == 200
    shown = {run.pk for run in response.context["cl"].result_list}
    assert shown == {overdue.pk}


def test_run_now_queues_the_running_runs_only(staff_client, runs):
    from procrastinate.contrib.django.models import ProcrastinateJob

    overdue, fresh, _finished = runs
    response = staff_client.post(
        "/admin/automations/automationrun/",
        {"action": "run_now", "_selected_action": [str(run.pk) for run in runs]},
    )

    assert response.status_code == 302
    queued = ProcrastinateJob.objects.filter(task_name="automations.tasks.advance_automation_run")
    assert sorted(job.args["run_id"] for job in queued) == sorted([str(overdue.pk), str(fresh.pk)])
    overdue.refresh_from_db()
    assert overdue.next_check_at is None


@pytest.mark.parametrize(
    "path",
    [
        "automations/automation",
        "automations/automationrun",
        "automations/eventsubsubscription",
        "automations/stream",
        "renders/rendertemplate",
    ],
)
def test_the_changelists_answer(staff_client, runs, path):
    assert staff_client.get(f"/admin/{path}/").status_code == 200
