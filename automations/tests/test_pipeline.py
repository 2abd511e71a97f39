"""From a finished stream to posted shorts: matching imported clips, and each run's steps."""

from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.utils import timezone
from procrastinate.contrib.django.models import ProcrastinateJob

from automations import services
from automations.models import Automation, AutomationRun, Stream
from automations.streams import stream_ended
from clips.models import Clip, ClipImport, LayoutSuggestion
from clips.tests.factories import make_clip
from integrations.tests.fakes import TWITCH_API_URL
from publishing.models import Publication
from renders.models import RenderJob, RenderTemplate
from renders.services import render_mark_succeeded

pytestmark = pytest.mark.django_db

RunStatus = AutomationRun.Status
GAME = "509658"


@pytest.fixture
def stream(streamer):
    now = timezone.now()
    return Stream.objects.create(
        user=streamer, broadcaster_user_id=streamer.twitch_account.twitch_user_id, started_at=now - timedelta(hours=3)
    )


@pytest.fixture
def template(owner, preset):
    return RenderTemplate.objects.create(
        owner=owner,
        name="Shorts",
        preset=preset,
        props={"aspect": "9:16", "layout": "fill", "title": "{clip_title}"},
        publish=[{"platform": "youtube", "privacy": "public", "title": "{clip_title} #shorts", "description": ""}],
    )


def automation_of(template, **fields) -> Automation:
    """An automation on since a day ago: the streams of these tests are its clips."""
    fields = {"active_since": timezone.now() - timedelta(days=1), **fields}
    return Automation.objects.create(owner=template.owner, name="Best clips", template=template, **fields)


def stream_clip(owner, stream, *, views: int, minutes_in: int = 30, **fields) -> Clip:
    ready = {"media_status": Clip.MediaStatus.READY, "duration": 3.0, "media_duration": 3.0, "game_id": GAME}
    created_at = stream.started_at + timedelta(minutes=minutes_in)
    return make_clip(owner, view_count=views, clip_created_at=created_at, **{**ready, **fields})


def import_of(stream):
    """A finished import of the stream's window."""
    return ClipImport.objects.create(
        user=stream.user, status="succeeded", since=stream.started_at, until=timezone.now()
    )


def matched(automation) -> list[int]:
    return sorted(automation.runs.values_list("clip__view_count", flat=True), reverse=True)


def advance(run: AutomationRun) -> services.RunOutcome:
    AutomationRun.objects.filter(pk=run.pk).update(next_check_at=None)
    outcome = services.automation_run_advance(run_id=str(run.pk))
    run.refresh_from_db()
    return outcome


# --- Matching ----------------------------------------------------------------------------------------


def test_the_top_clips_by_views_above_the_minimum_are_matched(streamer, stream, template):
    automation = automation_of(template, min_views=10, max_per_stream=2)
    for views in (50, 5, 200, 120, 80):
        stream_clip(streamer, stream, views=views)
    stream_clip(streamer, stream, views=999, minutes_in=-600)  # made before the stream: not its clip

    runs = services.automations_match_import(clip_import_id=str(import_of(stream).pk))

    assert len(runs) == 2
    assert matched(automation) == [200, 120]
    assert set(automation.runs.values_list("stream", flat=True)) == {stream.pk}


def test_a_second_import_of_the_stream_renders_nothing_again_and_keeps_the_cap(streamer, stream, template):
    automation = automation_of(template, max_per_stream=2)
    for views in (50, 200, 120):
        stream_clip(streamer, stream, views=views)
    services.automations_match_import(clip_import_id=str(import_of(stream).pk))

    # An hour later Helix serves more clips, one better than those matched: the stream's two places are taken.
    stream_clip(streamer, stream, views=500)
    again = services.automations_match_import(clip_import_id=str(import_of(stream).pk))

    assert again == []
    assert matched(automation) == [200, 120]


def test_without_a_cap_each_new_clip_is_matched_exactly_once(streamer, stream, template):
    automation = automation_of(template)
    stream_clip(streamer, stream, views=3)
    services.automations_match_import(clip_import_id=str(import_of(stream).pk))
    stream_clip(streamer, stream, views=4)

    services.automations_match_import(clip_import_id=str(import_of(stream).pk))

    assert matched(automation) == [4, 3]


def test_games_and_disabled_automations_filter_clips(streamer, stream, template):
    by_game = automation_of(template, games=[GAME])
    disabled = automation_of(template, enabled=False)
    stream_clip(streamer, stream, views=10)
    stream_clip(streamer, stream, views=20, game_id="1234")

    services.automations_match_import(clip_import_id=str(import_of(stream).pk))

    assert matched(by_game) == [10]
    assert matched(disabled) == []


def test_a_strangers_import_matches_none_of_the_owners_automations(streamer, stream, template, stranger):
    automation = automation_of(template)
    stream_clip(streamer, stream, views=10)
    strangers_import = ClipImport.objects.create(
        user=stranger, status="succeeded", since=stream.started_at, until=timezone.now()
    )

    assert services.automations_match_import(clip_import_id=str(strangers_import.pk)) == []
    assert matched(automation) == []


def test_stream_offline_queues_two_imports_after_the_configured_delays(streamer, stream, settings):
    settings.STREAM_IMPORT_DELAYS_SECONDS = [300, 3600]

    stream_ended(broadcaster_user_id=stream.broadcaster_user_id, ended_at=timezone.now())

    jobs = ProcrastinateJob.objects.filter(task_name="automations.tasks.import_stream_clips")
    delays = sorted(round((job.scheduled_at - timezone.now()).total_seconds(), -2) for job in jobs)
    assert delays == [300, 3600]


def test_an_import_that_finishes_queues_the_matching(streamer, stream, template, django_capture_on_commit_callbacks):
    from clips.services import _finish

    clip_import = import_of(stream)
    _finish(clip_import, status="succeeded", error="")

    assert ProcrastinateJob.objects.filter(
        task_name="automations.tasks.match_imported_clips", args={"clip_import_id": str(clip_import.pk)}
    ).exists()


# --- A run's steps ------------------------------------------------------------------------------------


@pytest.fixture
def run(streamer, stream, template, youtube):
    automation_of(template, publish=True)
    stream_clip(streamer, stream, views=42, title="Ace on Ascent", broadcaster_name="OwnerStreams")
    [run_id] = services.automations_match_import(clip_import_id=str(import_of(stream).pk))
    return AutomationRun.objects.get(pk=run_id)


def succeed(job: RenderJob) -> None:
    """The render finishes, with an output file, as the local backend reports it."""
    RenderJob.objects.filter(pk=job.pk).update(status=RenderJob.Status.RENDERING)
    job.refresh_from_db()
    job.output_file.save("short.mp4", ContentFile(b"\x00" * 1024), save=False)
    render_mark_succeeded(job=job, source="worker", output_file=job.output_file.name)


def test_a_run_renders_with_the_template_then_publishes_once(run, twitch):
    twitch.get(f"{TWITCH_API_URL}/games", json={"data": [{"id": GAME, "name": "Valorant"}]})
    run.automation.template.publish[0]["title"] = "{clip_title} | {game}"
    run.automation.template.publish[0]["description"] = "More {game} on the channel"
    run.automation.template.save()

    assert advance(run) == services.RunOutcome.WAITING
    assert run.step == "render"
    assert run.render.input_props["title"] == "Ace on Ascent"
    assert run.render.preset == run.automation.template.preset

    succeed(run.render)
    assert advance(run) == services.RunOutcome.SUCCEEDED

    [publication] = Publication.objects.filter(render=run.render)
    assert (publication.title, publication.description) == ("Ace on Ascent | Valorant", "More Valorant on the channel")
    # The game's name is asked of Twitch once for the post's texts (the render's title has no {game}).
    assert len([call for call in twitch.calls if "/helix/games" in call.request.url]) == 1
    assert run.publication_ids == [str(publication.pk)]
    # A second run of the step (a redelivered job) renders and posts nothing more.
    AutomationRun.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING, step="publish")
    advance(run)
    assert RenderJob.objects.filter(clip=run.clip).count() == 1
    assert Publication.objects.filter(render=run.render).count() == 1


def test_a_run_without_publish_stops_after_the_render(run):
    Automation.objects.filter(pk=run.automation_id).update(publish=False)
    advance(run)
    succeed(run.render)

    assert advance(run) == services.RunOutcome.SUCCEEDED
    assert not Publication.objects.exists()


def test_a_run_waits_for_the_clips_video_through_the_queue(run):
    Clip.objects.filter(pk=run.clip_id).update(media_status=Clip.MediaStatus.DOWNLOADING)

    assert advance(run) == services.RunOutcome.WAITING

    assert run.step == "media"
    assert run.next_check_at > timezone.now()
    assert ProcrastinateJob.objects.filter(
        task_name="automations.tasks.advance_automation_run", args={"run_id": str(run.pk)}, scheduled_at__isnull=False
    ).exists()


def test_a_run_with_auto_layout_waits_for_the_detection(run):
    template = run.automation.template
    template.props = {**template.props, "layout": "auto"}
    template.save()
    LayoutSuggestion.objects.create(clip=run.clip, status=LayoutSuggestion.Status.RUNNING, requested_at=timezone.now())

    assert advance(run) == services.RunOutcome.WAITING
    assert run.step == "layout"


def test_a_failed_render_fails_the_run_without_blocking_the_others(run, streamer, stream):
    advance(run)
    RenderJob.objects.filter(pk=run.render_id).update(status=RenderJob.Status.FAILED, error_message="ffmpeg died")

    assert advance(run) == services.RunOutcome.FAILED
    assert "ffmpeg died" in run.error
    other = stream_clip(streamer, stream, views=7)
    [other_run] = services.automations_match_import(clip_import_id=str(import_of(stream).pk))
    assert AutomationRun.objects.get(pk=other_run).clip == other


def test_the_render_limit_stops_a_run_and_the_run_says_so(run, settings):
    settings.FEATURE_FLAG_DEFAULTS = {"render-limits": {"enabled": True, "payload": {"monthly_renders": 0}}}

    assert advance(run) == services.RunOutcome.LIMITED

    assert run.status == RunStatus.LIMITED
    assert "renders of this month" in run.error


def test_the_publication_limit_stops_a_run_and_the_run_says_so(run, settings):
    advance(run)
    succeed(run.render)
    settings.FEATURE_FLAG_DEFAULTS = {"render-limits": {"enabled": True, "payload": {"daily_publications": 0}}}

    assert advance(run) == services.RunOutcome.LIMITED
    assert "publications of today" in run.error


def test_the_batch_reports_once_when_its_last_run_ends(run, analytics_events, committed):
    advance(run)
    succeed(run.render)
    with committed():
        advance(run)
        advance(run)

    [properties] = [props for name, _, props in analytics_events() if name == "automation run finished"]
    assert (properties["clips_matched"], properties["rendered"], properties["published"]) == (1, 1, 1)


# --- No backlog ---------------------------------------------------------------------------------------


def test_clips_made_before_the_automation_was_on_are_left_alone(streamer, stream, template):
    automation = automation_of(template, active_since=stream.started_at + timedelta(minutes=45))
    stream_clip(streamer, stream, views=900, minutes_in=30)  # made before the automation was on
    stream_clip(streamer, stream, views=10, minutes_in=60)

    services.automations_match_import(clip_import_id=str(import_of(stream).pk))

    assert matched(automation) == [10]


def test_turning_an_automation_on_again_starts_it_from_then(owner, template):
    automation = automation_of(template, enabled=False)
    before = automation.active_since

    services.automation_save(owner=owner, automation=automation, enabled=True)
    automation.refresh_from_db()
    assert automation.active_since > before
    # Saving it while on keeps the time it was turned on.
    on_since = automation.active_since
    services.automation_save(owner=owner, automation=automation, enabled=True, min_views=5)
    automation.refresh_from_db()
    assert (automation.active_since, automation.min_views) == (on_since, 5)
