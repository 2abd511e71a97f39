"""Staff views of render jobs and presets: filters, search, the event history and the actions."""

from datetime import timedelta

import pytest
from django.utils import timezone
from procrastinate.contrib.django.models import ProcrastinateJob

from clips.tests.factories import make_clip
from core.tests.helpers import run_action
from renders.models import RenderEvent, RenderJob, RenderPreset
from renders.tests.factories import make_job, make_preset

pytestmark = pytest.mark.django_db

JOBS = "/admin/renders/renderjob/"
PRESETS = "/admin/renders/renderpreset/"
ADMIN = RenderEvent.Source.ADMIN
Status = RenderJob.Status


@pytest.fixture
def clip(owner):
    return make_clip(owner, title="Insane ace on Ascent")


def listed(response) -> set[str]:
    """The ids of the jobs on a changelist page."""
    assert response.status_code == 200
    return {str(job.pk) for job in response.context["cl"].result_list}


# --- Changelist, filters and search -------------------------------------------------------------


def test_the_job_list_loads_with_the_status_and_backend_filters(staff_client, owner, clip, preset):
    failed = make_job(owner, clip, preset, status=Status.FAILED, failure_reason="error")
    make_job(owner, clip, preset)
    make_job(owner, clip, preset, status=Status.FAILED, backend=RenderJob.Backend.REMOTION_LAMBDA)
    response = staff_client.get(JOBS, {"status__exact": "failed", "backend__exact": "local"})
    assert listed(response) == {str(failed.pk)}


def test_the_job_list_loads_with_every_filter_at_once(staff_client, owner, clip, preset):
    make_job(owner, clip, preset, status=Status.FAILED, failure_reason="error")
    response = staff_client.get(
        JOBS,
        {
            "stuck": "yes",
            "status__exact": "queued",
            "backend__exact": "local",
            "failure_reason__exact": "",
            "preset__id__exact": str(preset.pk),
            "created_at__gte": (timezone.now() - timedelta(days=7)).isoformat(),
        },
    )
    assert response.status_code == 200


def test_the_stuck_filter_shows_only_active_jobs_older_than_a_render_takes(staff_client, owner, clip, preset, settings):
    expected = timedelta(seconds=settings.RENDER_POLL_AFTER_SECONDS)
    long_ago = timezone.now() - 2 * expected
    queued_long_ago = make_job(owner, clip, preset, age=2 * expected)
    rendering_long = make_job(owner, clip, preset, age=2 * expected, status=Status.RENDERING, dispatched_at=long_ago)
    past_deadline = make_job(owner, clip, preset, deadline_at=timezone.now() - timedelta(seconds=1))
    make_job(owner, clip, preset)  # queued just now
    make_job(owner, clip, preset, age=2 * expected, status=Status.RENDERING, dispatched_at=timezone.now())
    for final in (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED):
        make_job(owner, clip, preset, age=2 * expected, status=final, deadline_at=timezone.now() - timedelta(minutes=1))
    response = staff_client.get(JOBS, {"stuck": "yes"})
    assert listed(response) == {str(queued_long_ago.pk), str(rendering_long.pk), str(past_deadline.pk)}


def test_without_the_stuck_filter_every_job_is_listed(staff_client, owner, clip, preset):
    jobs = [make_job(owner, clip, preset, status=status) for status in Status.values]
    assert listed(staff_client.get(JOBS)) == {str(job.pk) for job in jobs}


def test_search_finds_a_job_by_its_id(staff_client, owner, clip, preset):
    wanted = make_job(owner, clip, preset)
    make_job(owner, clip, preset)
    assert listed(staff_client.get(JOBS, {"q": str(wanted.pk)})) == {str(wanted.pk)}


def test_search_finds_a_job_by_its_render_id(staff_client, owner, clip, preset):
    wanted = make_job(owner, clip, preset, backend_render_id="abcd1234efgh")
    make_job(owner, clip, preset)
    assert listed(staff_client.get(JOBS, {"q": "abcd1234efgh"})) == {str(wanted.pk)}


def test_search_finds_jobs_by_the_owners_email(staff_client, owner, stranger, clip, preset):
    wanted = make_job(owner, clip, preset)
    make_job(stranger, make_clip(stranger), preset)
    assert listed(staff_client.get(JOBS, {"q": "owner@example.com"})) == {str(wanted.pk)}


def test_search_finds_jobs_by_the_clips_title(staff_client, owner, clip, preset):
    wanted = make_job(owner, clip, preset)
    make_job(owner, make_clip(owner, title="Boring round"), preset)
    assert listed(staff_client.get(JOBS, {"q": "insane ace"})) == {str(wanted.pk)}


def test_staff_cannot_add_a_job_by_hand(staff_client):
    assert staff_client.get(f"{JOBS}add/").status_code == 403


# --- The change page --------------------------------------------------------------------------------


def test_the_change_page_shows_the_jobs_events(staff_client, owner, clip, preset):
    job = make_job(owner, clip, preset, status=Status.RENDERING)
    RenderEvent.objects.create(job=job, kind="dispatched", source=RenderEvent.Source.WORKER, payload={"n": 1})
    RenderEvent.objects.create(job=job, kind="webhook_error", source=RenderEvent.Source.WEBHOOK, payload={})
    response = staff_client.get(f"{JOBS}{job.pk}/change/")
    assert response.status_code == 200
    inline = next(formset for formset in response.context["inline_admin_formsets"] if formset.opts.model is RenderEvent)
    assert [form.original.kind for form in inline] == ["dispatched", "webhook_error"]
    page = response.content.decode()
    assert "webhook_error" in page
    assert "dispatched" in page


def test_the_change_page_is_read_only(staff_client, owner, clip, preset):
    job = make_job(owner, clip, preset)
    response = staff_client.get(f"{JOBS}{job.pk}/change/")
    assert response.status_code == 200
    assert 'name="status"' not in response.content.decode()


# --- Actions ------------------------------------------------------------------------------------------


def test_retry_requeues_failed_jobs_and_records_an_admin_event(staff_client, owner, clip, preset):
    failed = make_job(owner, clip, preset, status=Status.FAILED, failure_reason="error")
    succeeded = make_job(owner, clip, preset, status=Status.SUCCEEDED)
    before = ProcrastinateJob.objects.filter(task_name="renders.tasks.dispatch_render").count()
    messages = run_action(staff_client, JOBS, "retry", [failed, succeeded])
    assert messages == ["Retried 1 of 2. Skipped 1: not in a state for it."]
    failed.refresh_from_db()
    succeeded.refresh_from_db()
    assert (failed.status, succeeded.status) == (Status.QUEUED, Status.SUCCEEDED)
    assert failed.events.filter(kind="retried", source=ADMIN).exists()
    assert ProcrastinateJob.objects.filter(task_name="renders.tasks.dispatch_render").count() == before + 1


def test_cancel_cancels_active_jobs_and_records_an_admin_event(staff_client, owner, clip, preset):
    queued = make_job(owner, clip, preset)
    rendering = make_job(owner, clip, preset, status=Status.RENDERING)
    messages = run_action(staff_client, JOBS, "cancel", [queued, rendering])
    assert messages == ["Cancelled 2 of 2."]
    for job in (queued, rendering):
        job.refresh_from_db()
        assert job.status == Status.CANCELLED
        assert job.events.filter(kind="cancelled", source=ADMIN).exists()


def test_mark_failed_fails_active_jobs_and_records_an_admin_event(staff_client, admin_user, owner, clip, preset):
    rendering = make_job(owner, clip, preset, status=Status.RENDERING)
    cancelled = make_job(owner, clip, preset, status=Status.CANCELLED)
    messages = run_action(staff_client, JOBS, "mark_failed", [rendering, cancelled])
    assert messages == ["Marked failed 1 of 2. Skipped 1: not in a state for it."]
    rendering.refresh_from_db()
    assert rendering.status == Status.FAILED
    assert rendering.failure_reason == RenderJob.FailureReason.ERROR
    assert rendering.error_message == f"Marked failed by {admin_user}."
    assert rendering.events.filter(kind="failed_error", source=ADMIN).exists()
    cancelled.refresh_from_db()
    assert cancelled.status == Status.CANCELLED


def test_repoll_asks_the_local_backend_and_keeps_a_running_render_running(staff_client, owner, clip, preset):
    job = make_job(
        owner,
        clip,
        preset,
        status=Status.RENDERING,
        dispatched_at=timezone.now() - timedelta(minutes=5),
        progress=0.4,
    )
    RenderJob.objects.filter(pk=job.pk).update(backend_render_id=f"local-{job.pk}")
    messages = run_action(staff_client, JOBS, "repoll", [job])
    assert messages == ["Re-polled 1 of 1."]
    job.refresh_from_db()
    assert job.status == Status.RENDERING
    assert job.progress == 0.4
    assert job.last_polled_at is not None


def test_repoll_of_a_job_never_dispatched_reports_it_as_not_polled(staff_client, owner, clip, preset):
    job = make_job(owner, clip, preset)
    messages = run_action(staff_client, JOBS, "repoll", [job])
    assert messages == ["Re-polled 0 of 1. Skipped 1: not dispatched yet, or the backend did not answer."]
    job.refresh_from_db()
    assert job.status == Status.QUEUED


# --- Presets ------------------------------------------------------------------------------------------


def test_the_preset_change_page_has_an_editable_form(staff_client, preset):
    response = staff_client.get(f"{PRESETS}{preset.pk}/change/")
    assert response.status_code == 200
    form = response.context["adminform"].form
    for field in (
        "name",
        "slug",
        "composition_id",
        "default_props",
        "width",
        "height",
        "fps",
        "codec",
        "is_active",
        "feature_flag_key",
    ):
        assert field in form.fields


def preset_form(**fields) -> dict:
    """The preset form as staff post it: the `preset` fixture's values, with these changes."""
    form = {
        "name": "Vertical 720p",
        "slug": "vertical-720p",
        "composition_id": "VerticalShort",
        "default_props": '{"aspect": "9:16", "layout": "fill"}',
        "width": 720,
        "height": 1280,
        "fps": 30,
        "codec": "h264",
        "is_active": "on",
        "feature_flag_key": "",
    }
    return {**form, **fields}


def test_staff_can_edit_a_preset(staff_client, preset):
    form = preset_form(name="Vertical 720p (60 fps)", fps=60, default_props='{"aspect": "9:16", "layout": "fit_blur"}')

    response = staff_client.post(f"{PRESETS}{preset.pk}/change/", form)

    assert response.status_code == 302
    preset.refresh_from_db()
    assert (preset.name, preset.fps) == ("Vertical 720p (60 fps)", 60)
    assert preset.default_props == {"aspect": "9:16", "layout": "fit_blur"}


def test_a_preset_with_an_impossible_size_is_refused(staff_client, preset):
    response = staff_client.post(f"{PRESETS}{preset.pk}/change/", preset_form(name="Tiny", width=8))

    assert response.status_code == 200
    assert response.context["adminform"].form.errors
    preset.refresh_from_db()
    assert (preset.name, preset.width) == ("Vertical 720p", 720)


def test_the_preset_list_loads_with_its_filters_and_search(staff_client, preset):
    make_preset(name="Retired", slug="retired", composition_id="Old", is_active=False)
    response = staff_client.get(PRESETS, {"is_active__exact": "1", "codec__exact": "h264", "q": "vertical"})
    assert response.status_code == 200
    assert [row.slug for row in response.context["cl"].result_list] == ["vertical-720p"]


def test_staff_can_add_a_preset(staff_client):
    assert staff_client.get(f"{PRESETS}add/").status_code == 200
    form = preset_form(
        name="Square 1080p",
        slug="square-1080p",
        composition_id="SquareShort",
        default_props='{"aspect": "1:1", "layout": "fit_blur"}',
        width=1080,
        height=1080,
        fps=60,
        feature_flag_key="beta-square",
    )

    response = staff_client.post(f"{PRESETS}add/", form)

    assert response.status_code == 302
    added = RenderPreset.objects.get(slug="square-1080p")
    assert (added.name, added.composition_id) == ("Square 1080p", "SquareShort")
    assert (added.width, added.height, added.fps, added.codec) == (1080, 1080, 60, "h264")
    assert added.default_props == {"aspect": "1:1", "layout": "fit_blur"}
    assert added.is_active
    assert added.feature_flag_key == "beta-square"
