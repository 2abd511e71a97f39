"""The clips API: owner scoping, filters, uploads, deletion, media downloads and imports."""

from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.core.files import File
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from procrastinate.contrib.django.models import ProcrastinateJob

from clips.models import Clip, ClipImport
from clips.tests.factories import make_clip, make_import, make_ready_clip
from core.tests.helpers import error_code, error_details
from core.viewsets import OwnerScopedViewSet

pytestmark = pytest.mark.django_db

CLIPS = "/api/clips/"
IMPORTS = "/api/clip-imports/"
FETCH_TASK = "clips.tasks.fetch_clip_media"
IMPORT_TASK = "clips.tasks.run_clip_import"


def clip_url(clip: Clip) -> str:
    return f"{CLIPS}{clip.pk}/"


def fetch_url(clip: Clip) -> str:
    return f"{CLIPS}{clip.pk}/fetch-media/"


def ids(response) -> list[str]:
    return [row["id"] for row in response.json()["results"]]


def queued(task_name: str) -> int:
    return ProcrastinateJob.objects.filter(task_name=task_name).count()


@pytest.fixture
def get_clips(api_client, bearer, owner):
    """`get_clips(**params)`: the owner's GET /api/clips/ with those query parameters."""

    def get(**params):
        return api_client.get(CLIPS, params, **bearer(owner))

    return get


def upload(api_client, headers, path: Path, name: str | None = None, **fields):
    with path.open("rb") as source:
        data = {"file": File(source, name=name or path.name), **fields}
        return api_client.post(CLIPS, data, format="multipart", **headers)


# --- Tenant isolation ------------------------------------------------------------------


def test_the_list_shows_only_the_owners_clips(get_clips, owner, stranger):
    mine = make_clip(owner)
    make_clip(stranger)
    response = get_clips()
    assert response.status_code == 200
    assert ids(response) == [str(mine.pk)]
    assert response.json()["count"] == 1


def test_another_users_clip_cannot_be_retrieved(api_client, bearer, owner, stranger):
    theirs = make_clip(stranger)
    response = api_client.get(clip_url(theirs), **bearer(owner))
    assert response.status_code == 404
    assert error_code(response) == "not_found"


def test_the_owner_can_retrieve_their_clip(api_client, bearer, owner):
    mine = make_clip(owner, title="Big play")
    response = api_client.get(clip_url(mine), **bearer(owner))
    assert response.status_code == 200
    assert response.json()["title"] == "Big play"
    assert response.json()["media_url"] is None


def test_another_users_clip_cannot_be_deleted_and_keeps_its_file(
    api_client, bearer, owner, stranger, media_root, sample_video, django_capture_on_commit_callbacks
):
    theirs = make_ready_clip(stranger, sample_video)
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.delete(clip_url(theirs), **bearer(owner))
    assert response.status_code == 404
    assert Clip.objects.filter(pk=theirs.pk).exists()
    assert theirs.media_file.storage.exists(theirs.media_file.name)


def test_another_users_clip_cannot_be_fetched(api_client, bearer, owner, stranger):
    theirs = make_clip(stranger)
    response = api_client.post(fetch_url(theirs), **bearer(owner))
    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.media_status == Clip.MediaStatus.NONE
    assert queued(FETCH_TASK) == 0


def test_the_import_list_shows_only_the_owners_imports(api_client, bearer, owner, stranger):
    mine = make_import(owner)
    make_import(stranger)
    response = api_client.get(IMPORTS, **bearer(owner))
    assert response.status_code == 200
    assert ids(response) == [str(mine.pk)]


def test_another_users_import_cannot_be_retrieved(api_client, bearer, owner, stranger):
    theirs = make_import(stranger)
    response = api_client.get(f"{IMPORTS}{theirs.pk}/", **bearer(owner))
    assert response.status_code == 404
    assert api_client.get(f"{IMPORTS}{theirs.pk}/", **bearer(stranger)).status_code == 200


# --- Authentication ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", CLIPS),
        ("post", CLIPS),
        ("get", CLIPS + "{clip}/"),
        ("delete", CLIPS + "{clip}/"),
        ("post", CLIPS + "{clip}/fetch-media/"),
        ("post", CLIPS + "import/"),
        ("get", IMPORTS),
        ("get", IMPORTS + "{clip_import}/"),
    ],
)
def test_every_endpoint_requires_authentication(api_client, owner, method, path):
    clip = make_clip(owner)
    clip_import = make_import(owner)
    response = getattr(api_client, method)(path.format(clip=clip.pk, clip_import=clip_import.pk))
    assert response.status_code == 401
    assert error_code(response) == "not_authenticated"
    assert Clip.objects.filter(pk=clip.pk, media_status=Clip.MediaStatus.NONE).exists()
    assert not ProcrastinateJob.objects.exists()


# --- Filters, search, ordering and pagination ------------------------------------------------


def test_created_after_and_before_bound_the_clip_date(get_clips, owner):
    make_clip(owner, clip_created_at=datetime(2024, 1, 1, tzinfo=UTC))
    inside = make_clip(owner, clip_created_at=datetime(2024, 2, 1, tzinfo=UTC))
    make_clip(owner, clip_created_at=datetime(2024, 3, 1, tzinfo=UTC))
    response = get_clips(created_after="2024-01-15T00:00:00Z", created_before="2024-03-01T00:00:00Z")
    assert ids(response) == [str(inside.pk)]


def test_game_filters_by_twitch_game_id(get_clips, owner):
    chess = make_clip(owner, game_id="743")
    make_clip(owner, game_id="509658")
    assert ids(get_clips(game="743")) == [str(chess.pk)]


def test_min_views_keeps_clips_with_at_least_that_many_views(get_clips, owner):
    make_clip(owner, view_count=9)
    popular = make_clip(owner, view_count=10)
    assert ids(get_clips(min_views=10)) == [str(popular.pk)]


def test_featured_filters_featured_clips(get_clips, owner):
    featured = make_clip(owner, is_featured=True)
    plain = make_clip(owner, is_featured=False)
    assert ids(get_clips(featured="true")) == [str(featured.pk)]
    assert ids(get_clips(featured="false")) == [str(plain.pk)]


def test_media_status_filters_by_download_state(get_clips, owner):
    ready = make_clip(owner, media_status=Clip.MediaStatus.READY)
    make_clip(owner, media_status=Clip.MediaStatus.FAILED)
    assert ids(get_clips(media_status="ready")) == [str(ready.pk)]


def test_source_separates_uploads_from_twitch_clips(get_clips, owner):
    uploaded = make_clip(owner, source=Clip.Source.UPLOAD, twitch_clip_id=None)
    make_clip(owner)
    assert ids(get_clips(source="upload")) == [str(uploaded.pk)]


@pytest.mark.parametrize(("field", "value"), [("title", "Insane Clutch"), ("creator_name", "ClipperFan")])
def test_search_matches_title_and_creator_name(get_clips, owner, field, value):
    match = make_clip(owner, **{field: value})
    make_clip(owner, title="Something else", creator_name="Someone")
    assert ids(get_clips(search=value.lower()[2:9])) == [str(match.pk)]


@pytest.mark.parametrize(
    ("ordering", "expected"),
    [
        ("created", ["old", "mid", "new"]),
        ("-created", ["new", "mid", "old"]),
        ("views", ["mid", "new", "old"]),
        ("-views", ["old", "new", "mid"]),
        ("duration", ["new", "old", "mid"]),
    ],
)
def test_ordering_sorts_by_date_views_or_duration(get_clips, owner, ordering, expected):
    now = timezone.now()
    make_clip(owner, title="old", clip_created_at=now - timedelta(days=3), view_count=300, duration=20)
    make_clip(owner, title="mid", clip_created_at=now - timedelta(days=2), view_count=100, duration=30)
    make_clip(owner, title="new", clip_created_at=now - timedelta(days=1), view_count=200, duration=10)
    titles = [row["title"] for row in get_clips(ordering=ordering).json()["results"]]
    assert titles == expected


def test_the_default_order_is_newest_first(get_clips, owner):
    now = timezone.now()
    older = make_clip(owner, clip_created_at=now - timedelta(days=2))
    newer = make_clip(owner, clip_created_at=now - timedelta(days=1))
    assert ids(get_clips()) == [str(newer.pk), str(older.pk)]


def test_ties_are_broken_by_id_so_pages_never_repeat_rows(get_clips, owner):
    for _ in range(5):
        make_clip(owner, view_count=7)
    seen = [row for page in (1, 2, 3) for row in ids(get_clips(ordering="views", page_size=2, page=page))]
    assert sorted(seen) == sorted(str(pk) for pk in Clip.objects.values_list("pk", flat=True))


def test_pages_carry_count_next_and_previous(get_clips, owner):
    for _ in range(3):
        make_clip(owner)
    body = get_clips(page_size=2, page=2).json()
    assert set(body) == {"count", "next", "previous", "results"}
    assert body["count"] == 3
    assert body["next"] is None
    assert "page_size=2" in body["previous"]
    assert len(body["results"]) == 1


def test_page_size_is_capped_at_100(get_clips, owner):
    Clip.objects.bulk_create(
        [Clip(owner=owner, source=Clip.Source.UPLOAD, clip_created_at=timezone.now()) for _ in range(101)]
    )
    body = get_clips(page_size=1000).json()
    assert len(body["results"]) == 100
    assert body["next"] is not None


# --- Invalid input is a 400, never a 500 ----------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [
        {"created_after": "not-a-date"},
        {"created_before": "2024-13-45"},
        {"created_after": "0001-01-01T00:00:00+05:00"},
        {"created_before": "9999-12-31T23:59:59-05:00"},
        {"min_views": "-1"},
        {"min_views": "abc"},
        {"min_views": str(2**31)},
        {"min_views": "9" * 5000},
        {"media_status": "bogus"},
        {"source": "vhs"},
    ],
)
def test_invalid_filters_are_a_validation_error(get_clips, owner, params):
    response = get_clips(**params)
    assert response.status_code == 400
    assert error_code(response) == "validation_error"
    assert set(error_details(response)) == set(params)


def test_a_nul_character_in_the_search_is_a_validation_error(get_clips, owner):
    response = get_clips(search="clip\x00")
    assert response.status_code == 400
    assert error_code(response) == "validation_error"


def test_an_offset_postgres_refuses_is_converted_to_utc(get_clips, owner):
    make_clip(owner, clip_created_at=datetime(2024, 1, 2, tzinfo=UTC))
    late = make_clip(owner, clip_created_at=datetime(2024, 1, 2, 0, 0, tzinfo=UTC) - timedelta(minutes=30))
    # -23:24 is valid ISO 8601 but beyond PostgreSQL's ±15:59: 2024-01-01T23:24:00Z.
    response = get_clips(created_after="2024-01-01T00:00:00-23:24", created_before="2024-01-02T00:00:00Z")
    assert response.status_code == 200
    assert ids(response) == [str(late.pk)]


def test_an_unknown_ordering_is_refused(get_clips, owner):
    make_clip(owner)
    response = get_clips(ordering="password")
    assert response.status_code == 400
    assert error_code(response) == "validation_error"


def test_a_page_that_is_not_a_number_is_a_json_404(get_clips, owner):
    make_clip(owner)
    response = get_clips(page="abc")
    assert response.status_code == 404
    assert error_code(response) == "not_found"


def test_a_page_size_that_is_not_a_number_falls_back_to_the_default(get_clips, owner):
    make_clip(owner)
    response = get_clips(page_size="abc")
    assert response.status_code == 200
    assert response.json()["count"] == 1


# --- Query count ------------------------------------------------------------------------------


def test_the_list_costs_the_same_few_queries_whatever_the_page_size(api_client, bearer, owner):
    now = timezone.now()
    Clip.objects.bulk_create(
        [
            Clip(owner=owner, source=Clip.Source.TWITCH, twitch_clip_id=f"Bulk{n}", clip_created_at=now, view_count=n)
            for n in range(120)
        ]
    )
    headers = bearer(owner)
    api_client.get(CLIPS, **headers)  # the first request fetches Clerk's signing keys (HTTP, not SQL)
    counts = {}
    for page_size in (1, 50, 100):
        with CaptureQueriesContext(connection) as queries:
            response = api_client.get(CLIPS, {"page_size": page_size}, **headers)
        assert len(response.json()["results"]) == page_size
        counts[page_size] = len(queries)
    assert len(set(counts.values())) == 1, counts
    assert counts[100] <= 3  # the user behind the token, the count, the page


# --- Upload ------------------------------------------------------------------------------------


def test_uploading_a_video_creates_a_ready_clip_with_probed_media(api_client, bearer, owner, media_root, sample_video):
    response = upload(api_client, bearer(owner), sample_video, name="My Best Moment.mp4")
    assert response.status_code == 201
    body = response.json()
    assert body["source"] == "upload"
    assert body["title"] == "My Best Moment"
    assert body["media_status"] == "ready"
    assert (body["media_width"], body["media_height"]) == (320, 180)
    assert body["media_duration"] == pytest.approx(1.0, abs=0.1)
    assert body["media_size"] == sample_video.stat().st_size
    assert body["media_url"]
    clip = Clip.objects.get(pk=body["id"])
    assert clip.owner == owner
    stored = media_root / clip.media_file.name
    assert stored.read_bytes() == sample_video.read_bytes()


def test_an_upload_keeps_the_title_given(api_client, bearer, owner, media_root, sample_video):
    response = upload(api_client, bearer(owner), sample_video, title="Stream highlight")
    assert response.json()["title"] == "Stream highlight"


def test_a_text_file_named_mp4_is_not_a_video(api_client, bearer, owner, media_root, tmp_path):
    fake = tmp_path / "fake.mp4"
    fake.write_text("hello, I am not a video\n" * 50)
    response = upload(api_client, bearer(owner), fake)
    assert response.status_code == 400
    assert error_code(response) == "not_a_video"
    assert not Clip.objects.exists()
    assert not [path for path in media_root.rglob("*") if path.is_file()]


def test_an_upload_over_the_limit_is_too_large(api_client, bearer, owner, media_root, sample_video, settings):
    settings.CLIP_MAX_UPLOAD_BYTES = 1000
    response = upload(api_client, bearer(owner), sample_video)
    assert response.status_code == 413
    assert error_code(response) == "too_large"
    assert not Clip.objects.exists()


def test_an_upload_is_stored_under_a_video_extension_whatever_its_name(
    api_client, bearer, owner, media_root, sample_video
):
    response = upload(api_client, bearer(owner), sample_video, name="page.html")
    assert response.status_code == 201
    assert not Clip.objects.get().media_file.name.endswith(".html")


def test_an_upload_without_a_file_is_a_validation_error(api_client, bearer, owner):
    response = api_client.post(CLIPS, {"title": "No file"}, format="multipart", **bearer(owner))
    assert response.status_code == 400
    assert error_code(response) == "validation_error"
    assert "file" in error_details(response)


# --- Delete -------------------------------------------------------------------------------------


def test_deleting_a_clip_removes_it_and_its_file_after_commit(
    api_client, bearer, owner, media_root, sample_video, django_capture_on_commit_callbacks
):
    clip = make_ready_clip(owner, sample_video)
    name, storage = clip.media_file.name, clip.media_file.storage
    with django_capture_on_commit_callbacks() as callbacks:
        response = api_client.delete(clip_url(clip), **bearer(owner))
        assert storage.exists(name)  # not before the deletion commits
    assert response.status_code == 204
    assert not Clip.objects.filter(pk=clip.pk).exists()
    for callback in callbacks:
        callback()
    assert not storage.exists(name)


def test_deleting_a_clip_without_a_file_works(api_client, bearer, owner):
    clip = make_clip(owner)
    assert api_client.delete(clip_url(clip), **bearer(owner)).status_code == 204
    assert not Clip.objects.filter(pk=clip.pk).exists()


# --- Fetch media --------------------------------------------------------------------------------


def test_fetch_media_queues_one_download(api_client, bearer, owner):
    clip = make_clip(owner)
    response = api_client.post(fetch_url(clip), **bearer(owner))
    assert response.status_code == 202
    assert response.json()["media_status"] == "downloading"
    job = ProcrastinateJob.objects.get(task_name=FETCH_TASK)
    assert job.args == {"clip_id": str(clip.pk)}


def test_fetch_media_while_downloading_queues_nothing_more(api_client, bearer, owner):
    clip = make_clip(owner)
    api_client.post(fetch_url(clip), **bearer(owner))
    response = api_client.post(fetch_url(clip), **bearer(owner))
    assert response.status_code == 202
    assert response.json()["media_status"] == "downloading"
    assert queued(FETCH_TASK) == 1


def test_fetch_media_clears_a_previous_failure(api_client, bearer, owner):
    clip = make_clip(owner, media_status=Clip.MediaStatus.FAILED, media_error="The download link answered 403")
    response = api_client.post(fetch_url(clip), **bearer(owner))
    assert response.json()["media_error"] == ""
    assert queued(FETCH_TASK) == 1


def test_fetch_media_refuses_uploads(api_client, bearer, owner):
    clip = make_clip(owner, source=Clip.Source.UPLOAD, twitch_clip_id=None)
    response = api_client.post(fetch_url(clip), **bearer(owner))
    assert response.status_code == 400
    assert error_code(response) == "not_a_twitch_clip"
    assert queued(FETCH_TASK) == 0


# --- Import -------------------------------------------------------------------------------------


def import_clips(api_client, headers, **window):
    return api_client.post(f"{CLIPS}import/", window, **headers)


def test_an_import_defaults_to_the_last_30_days(api_client, bearer, streamer):
    before = timezone.now()
    response = import_clips(api_client, bearer(streamer))
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "queued"
    since, until = datetime.fromisoformat(body["since"]), datetime.fromisoformat(body["until"])
    assert before <= until <= timezone.now()
    assert until - since == timedelta(days=30)
    assert ClipImport.objects.get().user == streamer
    assert ProcrastinateJob.objects.get(task_name=IMPORT_TASK).args == {"clip_import_id": body["id"]}


def test_an_import_takes_the_window_given(api_client, bearer, streamer):
    response = import_clips(
        api_client, bearer(streamer), since="2024-01-01T00:00:00Z", until="2024-02-01T00:00:00+01:00"
    )
    assert response.status_code == 202
    assert datetime.fromisoformat(response.json()["since"]) == datetime(2024, 1, 1, tzinfo=UTC)
    assert datetime.fromisoformat(response.json()["until"]) == datetime(2024, 1, 31, 23, tzinfo=UTC)


def test_an_import_needs_a_linked_twitch_account(api_client, bearer, owner):
    response = import_clips(api_client, bearer(owner))
    assert response.status_code == 400
    assert error_code(response) == "twitch_not_linked"
    assert not ClipImport.objects.exists()


def test_a_second_import_while_one_is_active_conflicts(api_client, bearer, streamer):
    first = import_clips(api_client, bearer(streamer)).json()
    response = import_clips(api_client, bearer(streamer))
    assert response.status_code == 409
    assert error_code(response) == "import_in_progress"
    assert error_details(response)["import_id"] == first["id"]
    assert ClipImport.objects.count() == 1
    assert queued(IMPORT_TASK) == 1


def test_an_import_whose_since_is_not_before_until_is_refused(api_client, bearer, streamer):
    response = import_clips(api_client, bearer(streamer), since="2024-02-01T00:00:00Z", until="2024-02-01T00:00:00Z")
    assert response.status_code == 400
    assert error_code(response) == "validation_error"
    assert "since" in error_details(response)


def test_an_import_starting_in_the_future_is_refused(api_client, bearer, streamer):
    tomorrow = (timezone.now() + timedelta(days=1)).isoformat()
    response = import_clips(api_client, bearer(streamer), since=tomorrow)
    assert response.status_code == 400
    assert error_code(response) == "invalid_window"
    assert not ClipImport.objects.exists()


@pytest.mark.parametrize(
    "window",
    [
        {"since": "yesterday"},
        {"until": "2024-02-30T00:00:00Z"},
        {"since": "0001-01-01T00:00:00+05:00"},
    ],
)
def test_an_import_with_invalid_dates_is_refused(api_client, bearer, streamer, window):
    response = import_clips(api_client, bearer(streamer), **window)
    assert response.status_code == 400
    assert error_code(response) == "validation_error"


def test_an_import_ending_near_the_minimum_date_is_refused_not_a_server_error(api_client, bearer, streamer):
    response = import_clips(api_client, bearer(streamer), until="0001-01-15T00:00:00Z")
    assert response.status_code == 400


# --- Schema and the base viewset -----------------------------------------------------------------


def test_the_schema_lists_the_clip_endpoints(api_client):
    response = api_client.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert {"/api/clips/", "/api/clips/{id}/", "/api/clips/{id}/fetch-media/", "/api/clips/import/"} <= set(paths)
    assert {"/api/clip-imports/", "/api/clip-imports/{id}/"} <= set(paths)


def test_a_refined_queryset_still_holds_only_the_requesting_users_rows(owner, stranger):
    class FeaturedClips(OwnerScopedViewSet):
        queryset = Clip.objects.all()

        def refine_queryset(self, queryset):
            return queryset.filter(is_featured=True)

    mine = make_clip(owner, is_featured=True)
    make_clip(owner, is_featured=False)
    make_clip(stranger, is_featured=True)
    view = FeaturedClips(request=SimpleNamespace(user=owner))

    assert list(view.get_queryset()) == [mine]
