"""Feature flags at work: gated presets, render limits from the render-limits payload, /api/me/ and the user admin."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from django.utils import timezone
from procrastinate.contrib.django.models import ProcrastinateJob
from responses import matchers

from clips.tests.factories import make_ready_clip
from core.tests.concurrency import run_concurrently
from core.tests.helpers import error_code, error_details
from integrations.tests.fakes import POSTHOG_BATCH_URL, POSTHOG_FLAGS_URL, POSTHOG_HOST, flags_answer, remote_flag
from renders.models import RenderJob, RenderPreset
from renders.tests.factories import make_job, make_preset

pytestmark = pytest.mark.django_db

PRESETS = "/api/presets/"
RENDERS = "/api/renders/"
ME = "/api/me/"
FLAG = "beta-split"
LIMITS_FLAG = "render-limits"
LIMITS = {"monthly_renders": 2, "max_output_height": 1280}

Status = RenderJob.Status


@pytest.fixture
def gated_preset(db) -> RenderPreset:
    """A preset only users with the beta-split flag on see and use."""
    return make_preset(name="Beta split", slug="beta-split-720p", feature_flag_key=FLAG)


@pytest.fixture
def full_hd_preset(db) -> RenderPreset:
    return make_preset(name="Vertical 1080p", slug="vertical-1080p", width=1080, height=1920)


@pytest.fixture
def render_limits(settings, local_render_settings):
    """The plan from FEATURE_FLAG_DEFAULTS: 2 renders a month, at most 1280 pixels high."""
    settings.FEATURE_FLAG_DEFAULTS = {LIMITS_FLAG: {"enabled": True, "payload": LIMITS}}
    return settings


@pytest.fixture
def render(api_client, bearer, owner, ready_clip, preset, local_render_settings):
    """`render(preset=..., user=..., clip=..., **props)`: POST /api/renders/ as the owner by default."""

    def post(*, preset: RenderPreset = preset, user=owner, clip=ready_clip, **props):
        data = {"clip": str(clip.pk), "preset": preset.slug, "props": props}
        return api_client.post(RENDERS, data, format="json", **bearer(user))

    return post


def answer_flags(mock, user, *records: dict) -> None:
    """PostHog's /flags answer for this user only."""
    mock.post(
        POSTHOG_FLAGS_URL,
        match=[matchers.json_params_matcher({"distinct_id": user.clerk_id}, strict_match=False)],
        json=flags_answer(*records),
    )


def flags_calls(mock) -> int:
    return sum(1 for call in mock.calls if call.request.url.startswith(f"{POSTHOG_HOST}/flags/"))


def slugs(response) -> list[str]:
    return [row["slug"] for row in response.json()]


def next_month_start() -> datetime:
    now = timezone.now()
    return datetime(now.year + now.month // 12, now.month % 12 + 1, 1, tzinfo=UTC)


def last_month() -> datetime:
    month_start = timezone.now().replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return month_start - timedelta(days=3)


# --- Presets gated by a feature flag --------------------------------------------------------------


def test_a_gated_preset_is_hidden_while_its_flag_is_off(api_client, bearer, owner, preset, gated_preset):
    response = api_client.get(PRESETS, **bearer(owner))

    assert response.status_code == 200
    assert slugs(response) == ["vertical-720p"]


def test_a_gated_preset_is_listed_when_its_flag_defaults_to_on(
    api_client, bearer, owner, preset, gated_preset, settings
):
    settings.FEATURE_FLAG_DEFAULTS = {FLAG: True}

    response = api_client.get(PRESETS, **bearer(owner))

    assert slugs(response) == ["beta-split-720p", "vertical-720p"]


def test_a_gated_preset_stays_hidden_when_its_flag_defaults_to_off(
    api_client, bearer, owner, preset, gated_preset, settings
):
    settings.FEATURE_FLAG_DEFAULTS = {FLAG: False, "another-flag": True}

    assert slugs(api_client.get(PRESETS, **bearer(owner))) == ["vertical-720p"]


def test_a_gated_preset_is_refused_while_its_flag_is_off(render, gated_preset):
    response = render(preset=gated_preset)

    assert response.status_code == 400
    assert error_code(response) == "validation_error"
    assert "preset" in error_details(response)
    assert not RenderJob.objects.exists()


def test_a_gated_preset_renders_when_its_flag_defaults_to_on(render, gated_preset, settings):
    settings.FEATURE_FLAG_DEFAULTS = {FLAG: True}

    response = render(preset=gated_preset)

    assert response.status_code == 201, response.content
    assert RenderJob.objects.get().preset == gated_preset


def test_a_gated_preset_is_listed_only_for_users_posthog_turns_its_flag_on_for(
    api_client, bearer, owner, stranger, preset, gated_preset, posthog_enabled, mocked_http
):
    answer_flags(mocked_http, owner, remote_flag(FLAG))
    answer_flags(mocked_http, stranger, remote_flag(FLAG, enabled=False))

    assert slugs(api_client.get(PRESETS, **bearer(owner))) == ["beta-split-720p", "vertical-720p"]
    assert slugs(api_client.get(PRESETS, **bearer(stranger))) == ["vertical-720p"]


def test_a_gated_preset_renders_when_posthog_turns_its_flag_on_for_the_user(
    render, owner, stranger, gated_preset, posthog_enabled, mocked_http, media_root, landscape_video
):
    answer_flags(mocked_http, owner, remote_flag(FLAG))
    answer_flags(mocked_http, stranger, remote_flag(FLAG, enabled=False))

    assert render(preset=gated_preset).status_code == 201
    refused = render(preset=gated_preset, user=stranger, clip=make_ready_clip(stranger, landscape_video))
    assert refused.status_code == 400
    assert "preset" in error_details(refused)


def test_posthog_turning_a_flag_off_overrides_its_default(
    api_client, bearer, owner, preset, gated_preset, settings, posthog_enabled, mocked_http
):
    settings.FEATURE_FLAG_DEFAULTS = {FLAG: True}
    answer_flags(mocked_http, owner, remote_flag(FLAG, enabled=False))

    assert slugs(api_client.get(PRESETS, **bearer(owner))) == ["vertical-720p"]


def test_a_gated_preset_follows_its_default_when_posthog_is_down(
    api_client, bearer, owner, preset, gated_preset, settings, posthog_enabled, mocked_http
):
    settings.FEATURE_FLAG_DEFAULTS = {FLAG: True}
    mocked_http.post(POSTHOG_FLAGS_URL, status=503, json={"detail": "unavailable"})

    response = api_client.get(PRESETS, **bearer(owner))

    assert response.status_code == 200
    assert slugs(response) == ["beta-split-720p", "vertical-720p"]


def test_one_render_request_asks_posthog_for_flags_once(render, owner, gated_preset, posthog_enabled, mocked_http):
    answer_flags(mocked_http, owner, remote_flag(FLAG), remote_flag(LIMITS_FLAG, payload=LIMITS))

    assert render(preset=gated_preset).status_code == 201
    assert flags_calls(mocked_http) == 1


# --- Render limits: monthly renders -----------------------------------------------------------------


def test_renders_up_to_the_monthly_limit_are_accepted(render, render_limits):
    assert [render().status_code for _ in range(2)] == [201, 201]
    assert RenderJob.objects.count() == 2


def test_a_render_over_the_monthly_limit_is_refused_with_429(render, render_limits):
    render()
    render()

    response = render()

    assert response.status_code == 429
    assert error_code(response) == "render_limit_reached"
    assert next_month_start().strftime("%Y-%m-%d") in response.json()["error"]["message"]
    assert RenderJob.objects.count() == 2
    assert ProcrastinateJob.objects.filter(task_name="renders.tasks.dispatch_render").count() == 2


def test_the_limit_error_details_the_limit_the_renders_used_and_when_it_resets(render, render_limits):
    render()
    render()

    response = render()

    assert error_details(response) == {"limit": 2, "used": 2, "resets_at": next_month_start().isoformat()}


def test_retrying_a_failed_render_at_the_monthly_limit_is_refused(
    api_client, bearer, render, render_limits, owner, ready_clip, preset
):
    failed = make_job(owner, ready_clip, preset, status=Status.FAILED, failure_reason="error")
    assert [render().status_code for _ in range(2)] == [201, 201]

    response = api_client.post(f"{RENDERS}{failed.pk}/retry/", **bearer(owner))

    assert response.status_code == 429
    assert error_code(response) == "render_limit_reached"
    failed.refresh_from_db()
    assert failed.status == Status.FAILED


def test_renders_of_last_month_do_not_count(render, render_limits, owner, ready_clip, preset):
    for _ in range(2):
        job = make_job(owner, ready_clip, preset, status=Status.SUCCEEDED)
        RenderJob.objects.filter(pk=job.pk).update(created_at=last_month())

    assert render().status_code == 201


def test_a_render_created_at_the_very_start_of_the_month_counts(render, render_limits, owner, ready_clip, preset):
    month_start = timezone.now().replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    for _ in range(2):
        job = make_job(owner, ready_clip, preset, status=Status.SUCCEEDED)
        RenderJob.objects.filter(pk=job.pk).update(created_at=month_start)

    assert render().status_code == 429


def test_failed_renders_do_not_count(render, render_limits, owner, ready_clip, preset):
    make_job(owner, ready_clip, preset, status=Status.FAILED, failure_reason="error")
    make_job(owner, ready_clip, preset, status=Status.FAILED, failure_reason="dispatch")

    assert [render().status_code for _ in range(3)] == [201, 201, 429]


@pytest.mark.parametrize("status", [Status.QUEUED, Status.RENDERING, Status.SUCCEEDED])
def test_queued_rendering_and_succeeded_renders_count(render, render_limits, owner, ready_clip, preset, status):
    make_job(owner, ready_clip, preset, status=status)
    make_job(owner, ready_clip, preset, status=status)

    assert render().status_code == 429


def test_other_users_renders_do_not_count(render, render_limits, stranger, preset, media_root, landscape_video):
    their_clip = make_ready_clip(stranger, landscape_video)
    make_job(stranger, their_clip, preset)
    make_job(stranger, their_clip, preset)

    assert render().status_code == 201


def test_without_the_render_limits_flag_renders_are_unlimited(render, settings):
    settings.FEATURE_FLAG_DEFAULTS = {}

    assert [render().status_code for _ in range(4)] == [201] * 4


def test_a_disabled_render_limits_flag_does_not_limit(render, settings):
    settings.FEATURE_FLAG_DEFAULTS = {LIMITS_FLAG: {"enabled": False, "payload": {"monthly_renders": 0}}}

    assert render().status_code == 201


def test_the_limit_comes_from_posthogs_payload_for_the_user(render, owner, posthog_enabled, mocked_http, settings):
    settings.FEATURE_FLAG_DEFAULTS = {LIMITS_FLAG: {"enabled": True, "payload": {"monthly_renders": 50}}}
    answer_flags(mocked_http, owner, remote_flag(LIMITS_FLAG, payload={"monthly_renders": 1}))

    assert [render().status_code for _ in range(2)] == [201, 429]


# --- Render limits: output height -------------------------------------------------------------------


def test_a_preset_rendering_taller_than_the_plan_is_refused_with_403(render, render_limits, full_hd_preset):
    response = render(preset=full_hd_preset)

    assert response.status_code == 403
    assert error_code(response) == "resolution_not_allowed"
    assert error_details(response) == {"max_output_height": 1280, "requested_output_height": 1920}
    assert not RenderJob.objects.exists()


def test_a_preset_within_the_plans_height_renders(render, render_limits, preset):
    assert render(preset=preset).status_code == 201  # 720x1280


def test_the_height_limit_applies_to_the_output_frame_of_the_requested_aspect(render, render_limits, full_hd_preset):
    # 16:9 from a 1080x1920 preset renders 1920x1080: within 1280 pixels high.
    assert render(preset=full_hd_preset, aspect="16:9").status_code == 201
    assert render(preset=full_hd_preset, aspect="1:1").status_code == 201  # 1080x1080
    assert render(preset=full_hd_preset, aspect="9:16").status_code == 403


def test_the_height_is_checked_before_the_monthly_count(
    render, render_limits, owner, ready_clip, preset, full_hd_preset
):
    make_job(owner, ready_clip, preset)
    make_job(owner, ready_clip, preset)

    assert error_code(render(preset=full_hd_preset)) == "resolution_not_allowed"
    assert error_code(render(preset=preset)) == "render_limit_reached"


# --- Render limits under concurrency --------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_at_the_limit_create_at_most_the_limit(
    empty_queue, bearer, owner, ready_clip, preset, render_limits
):
    headers = bearer(owner)
    data = json.dumps({"clip": str(ready_clip.pk), "preset": preset.slug, "props": {}})

    def request() -> int:
        return Client().post(RENDERS, data, content_type="application/json", **headers).status_code

    statuses = run_concurrently(request, times=5)

    assert sorted(statuses) == [201, 201, 429, 429, 429]
    assert RenderJob.objects.filter(owner=owner).count() == 2


# --- /api/me/ features --------------------------------------------------------------------------------


def test_me_reports_the_render_limits_with_their_payload_and_the_exposed_flags(
    api_client, bearer, owner, gated_preset, settings
):
    settings.FEATURE_FLAG_DEFAULTS = {LIMITS_FLAG: {"enabled": True, "payload": LIMITS}, "new-editor": True}
    settings.FEATURE_FLAGS_EXPOSED = ["new-editor", "dark-mode"]

    features = api_client.get(ME, **bearer(owner)).json()["features"]

    assert features == {
        FLAG: {"enabled": False, "variant": None, "payload": None},
        "dark-mode": {"enabled": False, "variant": None, "payload": None},
        "new-editor": {"enabled": True, "variant": None, "payload": None},
        LIMITS_FLAG: {"enabled": True, "variant": None, "payload": LIMITS},
    }


def test_me_reports_posthogs_flags_for_the_user(api_client, bearer, owner, settings, posthog_enabled, mocked_http):
    settings.FEATURE_FLAGS_EXPOSED = ["editor"]
    answer_flags(mocked_http, owner, remote_flag(LIMITS_FLAG, payload=LIMITS), remote_flag("editor", variant="compact"))

    features = api_client.get(ME, **bearer(owner)).json()["features"]

    assert features == {
        "editor": {"enabled": True, "variant": "compact", "payload": None},
        LIMITS_FLAG: {"enabled": True, "variant": None, "payload": LIMITS},
    }


def test_me_does_not_report_the_flag_of_an_inactive_preset(api_client, bearer, owner, gated_preset):
    RenderPreset.objects.filter(pk=gated_preset.pk).update(is_active=False)

    features = api_client.get(ME, **bearer(owner)).json()["features"]

    assert set(features) == {LIMITS_FLAG}


# --- The user admin ----------------------------------------------------------------------------------


def admin_page(client, admin_user, user) -> str:
    client.force_login(admin_user)
    response = client.get(f"/admin/accounts/user/{user.pk}/change/")
    assert response.status_code == 200
    return response.content.decode()


def test_the_user_admin_shows_the_flags_the_user_gets(client, admin_user, owner, gated_preset, settings):
    settings.FEATURE_FLAG_DEFAULTS = {LIMITS_FLAG: {"enabled": True, "payload": LIMITS}}

    page = admin_page(client, admin_user, owner)

    assert "Feature flags they get now" in page
    assert (
        "<code>render-limits</code>: on — payload {&quot;monthly_renders&quot;: 2, &quot;max_output_height&quot;: 1280}"
    ) in page
    assert f"<code>{FLAG}</code>: off" in page


def test_the_user_admin_shows_posthogs_flags_for_that_user_not_the_admin(
    client, admin_user, owner, gated_preset, posthog_enabled, mocked_http
):
    answer_flags(mocked_http, owner, remote_flag(FLAG))

    page = admin_page(client, admin_user, owner)

    assert f"<code>{FLAG}</code>: on" in page
    assert "<code>render-limits</code>: off" in page


def test_the_feature_flags_field_is_read_only(client, admin_user, owner, settings):
    settings.FEATURE_FLAG_DEFAULTS = {"new-editor": True}

    page = admin_page(client, admin_user, owner)

    assert 'name="feature_flags"' not in page
    assert "<code>new-editor</code>: on" in page


def test_viewing_a_user_in_the_admin_sends_no_analytics_for_that_user(
    client, admin_user, owner, gated_preset, posthog_enabled, mocked_http
):
    answer_flags(mocked_http, owner, remote_flag(FLAG), remote_flag(LIMITS_FLAG, payload=LIMITS))

    admin_page(client, admin_user, owner)

    sent = [json.loads(call.request.body) for call in mocked_http.calls if call.request.url == POSTHOG_BATCH_URL]
    assert [event["event"] for batch in sent for event in batch["batch"]] == []
