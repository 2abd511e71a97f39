"""The renders API: presets, creating renders with a validated layout spec, cancel, retry and download."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from procrastinate.contrib.django.models import ProcrastinateJob

from clips.models import Clip
from clips.tests.factories import make_clip, make_ready_clip
from core.tests.helpers import error_code, error_details
from renders.models import RenderEvent, RenderJob
from renders.tests.factories import make_job, make_preset

pytestmark = pytest.mark.django_db

PRESETS = "/api/presets/"
RENDERS = "/api/renders/"
DISPATCH_TASK = "renders.tasks.dispatch_render"

Status = RenderJob.Status


def job_url(job: RenderJob, action: str = "") -> str:
    return f"{RENDERS}{job.pk}/{action + '/' if action else ''}"


def ids(response) -> list[str]:
    return [row["id"] for row in response.json()["results"]]


def queued(task_name: str = DISPATCH_TASK) -> int:
    return ProcrastinateJob.objects.filter(task_name=task_name, status="todo").count()


@pytest.fixture
def other_clip(stranger, media_root, landscape_video):
    """The stranger's ready clip."""
    return make_ready_clip(stranger, landscape_video)


@pytest.fixture
def post_render(api_client, bearer, owner, ready_clip, preset):
    """`post_render(props, **fields)`: the owner's POST /api/renders/ for their ready clip."""

    def post(props: dict | None = None, **fields):
        data = {"clip": str(ready_clip.pk), "preset": preset.slug, "props": props or {}, **fields}
        return api_client.post(RENDERS, data, format="json", **bearer(owner))

    return post


# --- Authentication ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", PRESETS),
        ("get", RENDERS),
        ("post", RENDERS),
        ("get", f"{RENDERS}00000000-0000-0000-0000-000000000000/"),
        ("post", f"{RENDERS}00000000-0000-0000-0000-000000000000/cancel/"),
        ("post", f"{RENDERS}00000000-0000-0000-0000-000000000000/retry/"),
        ("get", f"{RENDERS}00000000-0000-0000-0000-000000000000/download/"),
    ],
)
def test_every_endpoint_requires_authentication(api_client, method, path):
    response = getattr(api_client, method)(path)
    assert response.status_code == 401
    assert error_code(response) == "not_authenticated"


# --- Presets --------------------------------------------------------------------------------------


def test_presets_lists_only_active_presets_without_a_feature_flag(api_client, bearer, owner, preset):
    make_preset(name="Retired", slug="retired", is_active=False)
    make_preset(name="Beta split", slug="beta-split", feature_flag_key="beta_split")
    response = api_client.get(PRESETS, **bearer(owner))
    assert response.status_code == 200
    assert [row["slug"] for row in response.json()] == ["vertical-720p"]
    assert response.json()[0] == {
        "id": str(preset.pk),
        "slug": "vertical-720p",
        "name": "Vertical 720p",
        "composition_id": "VerticalShort",
        "default_props": {"aspect": "9:16", "layout": "fill"},
        "width": 720,
        "height": 1280,
        "fps": 30,
        "codec": "h264",
    }


@pytest.mark.parametrize(
    "hidden", [{"is_active": False}, {"feature_flag_key": "beta_split"}], ids=["inactive", "feature-flagged"]
)
def test_a_hidden_preset_cannot_be_used_to_render(api_client, bearer, owner, ready_clip, hidden):
    make_preset(name="Hidden", slug="hidden", **hidden)
    response = api_client.post(RENDERS, {"clip": str(ready_clip.pk), "preset": "hidden"}, **bearer(owner))
    assert response.status_code == 400
    assert "preset" in error_details(response)
    assert not RenderJob.objects.exists()


# --- Creating a render ---------------------------------------------------------------------------


def test_creating_a_render_queues_it_and_one_dispatch(post_render, owner, ready_clip, preset):
    response = post_render({"trim_start": 0.5, "trim_end": 2.5, "title": "Clutch!"})
    assert response.status_code == 201
    body = response.json()
    job = RenderJob.objects.get()
    assert body["id"] == str(job.pk)
    assert body["status"] == "queued"
    assert body["clip"] == str(ready_clip.pk)
    assert body["preset"] == preset.slug
    assert body["progress"] == 0
    assert body["download_url"] is None
    assert (job.owner, job.clip, job.preset) == (owner, ready_clip, preset)
    assert [(job.args, job.queue_name) for job in ProcrastinateJob.objects.filter(task_name=DISPATCH_TASK)] == [
        ({"job_id": str(job.pk)}, "renders")
    ]
    assert list(job.events.values_list("kind", "source")) == [("created", RenderEvent.Source.API)]


def test_the_stored_spec_is_the_validated_one_with_defaults_filled_in(post_render):
    response = post_render({"trim_start": 0.5, "title": "Clutch!"})
    assert response.status_code == 201
    assert RenderJob.objects.get().input_props == {
        "trim_start": 0.5,
        "trim_end": 3.0,  # the clip's end
        "aspect": "9:16",
        "layout": "fill",
        "title": "Clutch!",
    }


def test_the_trim_end_defaults_to_at_most_the_longest_short(post_render, settings):
    settings.RENDER_MAX_SECONDS = 2
    response = post_render({"trim_start": 0.5})
    assert response.status_code == 201
    assert response.json()["input_props"]["trim_end"] == 2.5


def test_a_split_spec_keeps_its_rectangles(post_render):
    facecam = {"x": 0.7, "y": 0.0, "width": 0.3, "height": 0.3}
    gameplay = {"x": 0.0, "y": 0.0, "width": 1.0, "height": 1.0}
    response = post_render({"layout": "split", "facecam": facecam, "gameplay": gameplay, "facecam_share": 0.4})
    assert response.status_code == 201
    props = RenderJob.objects.get().input_props
    assert (props["facecam"], props["gameplay"], props["facecam_share"]) == (facecam, gameplay, 0.4)


def test_split_only_fields_are_dropped_from_other_layouts(post_render):
    rect = {"x": 0.0, "y": 0.0, "width": 0.5, "height": 0.5}
    response = post_render({"layout": "fill", "facecam": rect, "gameplay": rect, "facecam_share": 0.5})
    assert response.status_code == 201
    props = RenderJob.objects.get().input_props
    assert not {"facecam", "gameplay", "facecam_share"} & set(props)


def test_a_client_sent_source_url_is_dropped_from_the_stored_spec(post_render):
    response = post_render({"trim_end": 2, "source_url": "https://evil.example/other-users-video.mp4"})
    assert response.status_code == 201
    props = RenderJob.objects.get().input_props
    assert "source_url" not in props
    assert "source_url" not in response.json()["input_props"]


def test_the_presets_defaults_are_merged_under_the_requests_props(api_client, bearer, owner, ready_clip):
    make_preset(
        name="Square blur",
        slug="square-blur",
        default_props={"aspect": "1:1", "layout": "fit_blur", "title": "Default title"},
    )
    data = {"clip": str(ready_clip.pk), "preset": "square-blur", "props": {"title": "My title", "trim_end": 2}}
    response = api_client.post(RENDERS, data, **bearer(owner))
    assert response.status_code == 201
    props = RenderJob.objects.get().input_props
    assert (props["aspect"], props["layout"], props["title"], props["trim_end"]) == (
        "1:1",
        "fit_blur",
        "My title",
        2,
    )


def test_a_render_of_another_users_clip_is_refused_on_the_clip_field(api_client, bearer, owner, other_clip, preset):
    response = api_client.post(RENDERS, {"clip": str(other_clip.pk), "preset": preset.slug}, **bearer(owner))
    assert response.status_code == 400
    assert error_code(response) == "validation_error"
    assert "clip" in error_details(response)
    assert not RenderJob.objects.exists()
    assert queued() == 0


@pytest.mark.parametrize("media_status", [Clip.MediaStatus.NONE, Clip.MediaStatus.DOWNLOADING, Clip.MediaStatus.FAILED])
def test_a_clip_whose_video_is_not_ready_cannot_be_rendered(api_client, bearer, owner, preset, media_status):
    clip = make_clip(owner, media_status=media_status, duration=30.0)
    response = api_client.post(RENDERS, {"clip": str(clip.pk), "preset": preset.slug}, **bearer(owner))
    assert response.status_code == 400
    assert "not ready" in error_details(response)["clip"][0]
    assert not RenderJob.objects.exists()


SPLIT_RECTS = {
    "facecam": {"x": 0.7, "y": 0.0, "width": 0.3, "height": 0.3},
    "gameplay": {"x": 0.0, "y": 0.0, "width": 1.0, "height": 1.0},
}


@pytest.mark.parametrize(
    ("props", "field"),
    [
        pytest.param({"trim_end": 5}, "trim_end", id="trim-end-beyond-the-clip"),
        pytest.param({"trim_start": 2, "trim_end": 2}, "trim_start", id="trim-start-equals-trim-end"),
        pytest.param({"trim_start": 2.5, "trim_end": 1}, "trim_start", id="trim-start-after-trim-end"),
        pytest.param({"trim_start": -1}, "trim_start", id="negative-trim-start"),
        pytest.param({"trim_start": "nan"}, "trim_start", id="not-a-number-trim-start"),
        pytest.param({"trim_end": "Infinity"}, "trim_end", id="infinite-trim-end"),
        pytest.param({"aspect": "3:2"}, "aspect", id="unknown-aspect"),
        pytest.param({"layout": "mosaic"}, "layout", id="unknown-layout"),
        pytest.param({"layout": "split", **SPLIT_RECTS, "facecam_share": 0.95}, "facecam_share", id="share-too-big"),
        pytest.param({"layout": "split", **SPLIT_RECTS, "facecam_share": 0.05}, "facecam_share", id="share-too-small"),
        pytest.param({"title": "x" * 81}, "title", id="title-over-80-characters"),
    ],
)
def test_an_invalid_spec_is_refused_with_the_field_under_props(post_render, props, field):
    response = post_render(props)
    assert response.status_code == 400
    assert error_code(response) == "validation_error"
    assert field in error_details(response)["props"]
    assert not RenderJob.objects.exists()
    assert queued() == 0


def test_a_title_of_exactly_80_characters_is_accepted(post_render):
    assert post_render({"title": "x" * 80}).status_code == 201


def test_a_short_longer_than_the_limit_is_refused(post_render, settings):
    settings.RENDER_MAX_SECONDS = 1
    response = post_render({"trim_start": 0, "trim_end": 2})
    assert response.status_code == 400
    assert "at most 1 s" in error_details(response)["props"]["trim_end"][0]


def test_the_split_layout_needs_both_rectangles(post_render):
    response = post_render({"layout": "split"})
    assert response.status_code == 400
    assert set(error_details(response)["props"]) == {"facecam", "gameplay"}


def test_a_split_layout_with_only_the_facecam_needs_the_gameplay(post_render):
    response = post_render({"layout": "split", "facecam": SPLIT_RECTS["facecam"]})
    assert response.status_code == 400
    assert set(error_details(response)["props"]) == {"gameplay"}


@pytest.mark.parametrize(
    "rect",
    [
        {"x": 0.8, "y": 0.0, "width": 0.3, "height": 0.3},
        {"x": 0.0, "y": 0.75, "width": 0.3, "height": 0.3},
        {"x": 1.2, "y": 0.0, "width": 0.3, "height": 0.3},
        {"x": 0.0, "y": 0.0, "width": 0.0, "height": 0.3},
    ],
    ids=["right-edge", "bottom-edge", "x-outside", "zero-width"],
)
def test_a_rectangle_outside_the_frame_is_refused(post_render, rect):
    response = post_render({"layout": "split", "facecam": rect, "gameplay": SPLIT_RECTS["gameplay"]})
    assert response.status_code == 400
    assert "facecam" in error_details(response)["props"]


def test_the_portrait_layout_needs_a_clip_with_a_portrait_file(api_client, bearer, owner, preset, landscape_video):
    clip = make_ready_clip(owner, landscape_video)
    data = {"clip": str(clip.pk), "preset": preset.slug, "props": {"layout": "portrait"}}
    response = api_client.post(RENDERS, data, **bearer(owner))
    assert response.status_code == 400
    assert "portrait" in error_details(response)["props"]["layout"][0]


def test_the_portrait_layout_is_accepted_for_a_clip_with_a_portrait_file(post_render):
    assert post_render({"layout": "portrait"}).status_code == 201


# --- Listing and retrieving -------------------------------------------------------------------------


def test_the_list_shows_only_the_owners_jobs_newest_first(
    api_client, bearer, owner, stranger, ready_clip, other_clip, preset
):
    older = make_job(owner, ready_clip, preset)
    newer = make_job(owner, ready_clip, preset)
    make_job(stranger, other_clip, preset)
    response = api_client.get(RENDERS, **bearer(owner))
    assert response.status_code == 200
    assert ids(response) == [str(newer.pk), str(older.pk)]
    assert response.json()["count"] == 2


def test_the_list_filters_by_status(api_client, bearer, owner, ready_clip, preset):
    failed = make_job(owner, ready_clip, preset, status=Status.FAILED, failure_reason="error")
    make_job(owner, ready_clip, preset)
    response = api_client.get(RENDERS, {"status": "failed"}, **bearer(owner))
    assert ids(response) == [str(failed.pk)]


def test_the_list_filters_by_clip(api_client, bearer, owner, ready_clip, preset, landscape_video):
    second_clip = make_ready_clip(owner, landscape_video)
    of_second = make_job(owner, second_clip, preset)
    make_job(owner, ready_clip, preset)
    response = api_client.get(RENDERS, {"clip": str(second_clip.pk)}, **bearer(owner))
    assert ids(response) == [str(of_second.pk)]


def test_filtering_by_another_users_clip_shows_none_of_their_jobs(
    api_client, bearer, owner, stranger, other_clip, preset
):
    make_job(stranger, other_clip, preset)
    response = api_client.get(RENDERS, {"clip": str(other_clip.pk)}, **bearer(owner))
    assert not response.json().get("results")


def test_filtering_by_another_users_clip_is_answered_as_for_an_unknown_clip(
    api_client, bearer, owner, stranger, other_clip, preset
):
    unknown = api_client.get(RENDERS, {"clip": "00000000-0000-0000-0000-000000000000"}, **bearer(owner))
    theirs = api_client.get(RENDERS, {"clip": str(other_clip.pk)}, **bearer(owner))
    assert unknown.status_code == 400
    assert theirs.status_code == unknown.status_code
    assert error_details(theirs) == error_details(unknown)


@pytest.mark.parametrize("page_size", [1, 50, 100])
def test_the_list_takes_a_constant_number_of_queries(api_client, bearer, owner, ready_clip, preset, page_size):
    deadline = timezone.now() + timedelta(minutes=30)
    RenderJob.objects.bulk_create(
        RenderJob(
            owner=owner,
            clip=ready_clip,
            preset=preset,
            input_props={"trim_start": 0, "trim_end": 1},
            backend="local",
            deadline_at=deadline,
        )
        for _ in range(120)
    )
    headers = bearer(owner)
    api_client.get(RENDERS, **headers)  # warms the Clerk key cache
    with CaptureQueriesContext(connection) as queries:
        response = api_client.get(RENDERS, {"page_size": page_size}, **headers)
    assert response.status_code == 200
    assert len(response.json()["results"]) == page_size
    assert len(queries) <= 3, [query["sql"] for query in queries]


def test_another_users_job_cannot_be_retrieved(api_client, bearer, owner, stranger, other_clip, preset):
    theirs = make_job(stranger, other_clip, preset)
    response = api_client.get(job_url(theirs), **bearer(owner))
    assert response.status_code == 404
    assert error_code(response) == "not_found"


def test_the_owner_can_retrieve_their_job(api_client, bearer, owner, ready_clip, preset):
    mine = make_job(owner, ready_clip, preset)
    response = api_client.get(job_url(mine), **bearer(owner))
    assert response.status_code == 200
    assert response.json()["id"] == str(mine.pk)
    assert response.json()["status"] == "queued"


# --- Cancel ---------------------------------------------------------------------------------------


def test_cancelling_a_queued_job_cancels_it(api_client, bearer, owner, ready_clip, preset):
    job = make_job(owner, ready_clip, preset)
    response = api_client.post(job_url(job, "cancel"), **bearer(owner))
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert response.json()["failure_reason"] == "cancelled"
    job.refresh_from_db()
    assert job.status == Status.CANCELLED
    assert job.finished_at is not None
    assert job.events.filter(kind="cancelled", source=RenderEvent.Source.API).exists()


def test_cancelling_a_rendering_job_cancels_it(api_client, bearer, owner, ready_clip, preset):
    job = make_job(owner, ready_clip, preset, status=Status.RENDERING, dispatched_at=timezone.now())
    response = api_client.post(job_url(job, "cancel"), **bearer(owner))
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"


def test_cancelling_twice_is_a_conflict(api_client, bearer, owner, ready_clip, preset):
    job = make_job(owner, ready_clip, preset)
    api_client.post(job_url(job, "cancel"), **bearer(owner))
    response = api_client.post(job_url(job, "cancel"), **bearer(owner))
    assert response.status_code == 409
    assert error_code(response) == "not_cancellable"


@pytest.mark.parametrize("status", [Status.SUCCEEDED, Status.FAILED])
def test_a_finished_job_cannot_be_cancelled(api_client, bearer, owner, ready_clip, preset, status):
    job = make_job(owner, ready_clip, preset, status=status)
    response = api_client.post(job_url(job, "cancel"), **bearer(owner))
    assert response.status_code == 409
    assert error_code(response) == "not_cancellable"
    job.refresh_from_db()
    assert job.status == status


def test_another_users_job_cannot_be_cancelled(api_client, bearer, owner, stranger, other_clip, preset):
    theirs = make_job(stranger, other_clip, preset)
    response = api_client.post(job_url(theirs, "cancel"), **bearer(owner))
    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == Status.QUEUED


# --- Retry ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [Status.FAILED, Status.CANCELLED])
def test_retrying_a_failed_or_cancelled_job_queues_it_again(api_client, bearer, owner, ready_clip, preset, status):
    job = make_job(
        owner,
        ready_clip,
        preset,
        status=status,
        failure_reason="error",
        error_message="ffmpeg failed: boom",
        backend_render_id="local-old",
        attempts=3,
        progress=0.5,
        finished_at=timezone.now(),
        deadline_at=timezone.now() - timedelta(minutes=1),
    )
    before = queued()
    response = api_client.post(job_url(job, "retry"), **bearer(owner))
    assert response.status_code == 200
    assert response.json()["status"] == "queued"
    job.refresh_from_db()
    assert (job.failure_reason, job.error_message, job.backend_render_id) == ("", "", None)
    assert (job.attempts, job.progress, job.finished_at) == (0, 0, None)
    assert job.deadline_at > timezone.now()
    assert queued() == before + 1
    assert job.events.filter(kind="retried", source=RenderEvent.Source.API).exists()


@pytest.mark.parametrize("status", [Status.QUEUED, Status.RENDERING, Status.SUCCEEDED])
def test_only_failed_or_cancelled_jobs_can_be_retried(api_client, bearer, owner, ready_clip, preset, status):
    job = make_job(owner, ready_clip, preset, status=status)
    before = queued()
    response = api_client.post(job_url(job, "retry"), **bearer(owner))
    assert response.status_code == 409
    assert error_code(response) == "not_retryable"
    assert queued() == before


def test_another_users_job_cannot_be_retried(api_client, bearer, owner, stranger, other_clip, preset):
    theirs = make_job(stranger, other_clip, preset, status=Status.FAILED, failure_reason="error")
    response = api_client.post(job_url(theirs, "retry"), **bearer(owner))
    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == Status.FAILED


# --- Download -------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [Status.QUEUED, Status.RENDERING, Status.FAILED, Status.CANCELLED])
def test_a_render_that_has_not_succeeded_cannot_be_downloaded(api_client, bearer, owner, ready_clip, preset, status):
    job = make_job(owner, ready_clip, preset, status=status)
    response = api_client.get(job_url(job, "download"), **bearer(owner))
    assert response.status_code == 409
    assert error_code(response) == "not_ready"


def test_another_users_render_cannot_be_downloaded(api_client, bearer, owner, stranger, other_clip, preset):
    theirs = make_job(
        stranger, other_clip, preset, status=Status.SUCCEEDED, output_url="https://cdn.example/theirs.mp4"
    )
    response = api_client.get(job_url(theirs, "download"), **bearer(owner))
    assert response.status_code == 404
    assert "Location" not in response


def test_a_render_only_at_the_backends_url_redirects_there(api_client, bearer, owner, ready_clip, preset):
    url = "https://remotionlambda-useast1-abc.s3.us-east-1.amazonaws.com/renders/r1/out.mp4"
    job = make_job(owner, ready_clip, preset, status=Status.SUCCEEDED, progress=1, output_url=url)
    response = api_client.get(job_url(job, "download"), **bearer(owner))
    assert response.status_code == 302
    assert response["Location"] == url


def test_a_render_whose_output_file_is_gone_is_not_found(api_client, bearer, owner, ready_clip, preset):
    job = make_job(owner, ready_clip, preset, status=Status.SUCCEEDED, progress=1)
    RenderJob.objects.filter(pk=job.pk).update(output_file=f"renders/{owner.pk}/{job.pk}/gone.mp4")
    api_client.raise_request_exception = False
    response = api_client.get(job_url(job, "download"), **bearer(owner))
    assert response.status_code == 404
    assert error_code(response) == "not_found"


@pytest.fixture
def rendered_job(local_render_settings, api_client, bearer, owner, ready_clip, preset, run_queued_jobs):
    """The owner's job, rendered for real by the local backend's worker."""
    response = api_client.post(
        RENDERS,
        {"clip": str(ready_clip.pk), "preset": preset.slug, "props": {"trim_start": 0, "trim_end": 1}},
        **bearer(owner),
    )
    assert response.status_code == 201
    run_queued_jobs(queues=["renders", "local_renders"])
    job = RenderJob.objects.get(pk=response.json()["id"])
    assert job.status == Status.SUCCEEDED, job.error_message
    return job


@pytest.mark.django_db(transaction=True)
def test_a_succeeded_local_render_downloads_as_an_mp4_attachment(api_client, bearer, owner, rendered_job):
    response = api_client.get(job_url(rendered_job, "download"), **bearer(owner))
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "video/mp4"
    assert response["Content-Disposition"] == f'attachment; filename="creatorsync-{rendered_job.pk}.mp4"'
    content = b"".join(response.streaming_content)
    response.close()
    assert content[4:8] == b"ftyp"
    with rendered_job.output_file.open("rb") as stored:
        assert content == stored.read()


@pytest.mark.django_db(transaction=True)
def test_a_succeeded_render_offers_its_download_url(api_client, bearer, owner, rendered_job, settings):
    response = api_client.get(job_url(rendered_job), **bearer(owner))
    assert response.json()["status"] == "succeeded"
    assert response.json()["progress"] == 1
    assert response.json()["download_url"] == (f"{settings.PUBLIC_BASE_URL}/api/renders/{rendered_job.pk}/download/")


@pytest.mark.django_db(transaction=True)
def test_only_the_owner_can_download_a_succeeded_render(api_client, bearer, stranger, rendered_job):
    response = api_client.get(job_url(rendered_job, "download"), **bearer(stranger))
    assert response.status_code == 404
    assert error_code(response) == "not_found"


@pytest.mark.parametrize("slug", ["vertical\x00720p", "../etc", "x" * 101, 42])
def test_a_malformed_preset_slug_is_a_400(api_client, bearer, owner, ready_clip, preset, slug):
    response = api_client.post(
        "/api/renders/", {"clip": str(ready_clip.pk), "preset": slug}, format="json", **bearer(owner)
    )
    assert response.status_code == 400
    assert "preset" in error_details(response)
