"""A clip's stored files: the portrait version is only claimed when it is stored, and deletion removes every file."""

from pathlib import Path

import pytest
from django.db import transaction

from clips import services
from clips.media import probe_video
from clips.models import Clip
from clips.tests.factories import PORTRAIT_URL, make_clip, make_ready_clip, serve_clip_downloads
from integrations.tests.fakes import BROADCASTER_ID

pytestmark = pytest.mark.django_db


@pytest.fixture
def landscape_bytes(landscape_video) -> bytes:
    """A real 640x360 MP4, as the Twitch CDN serves it."""
    return landscape_video.read_bytes()


@pytest.fixture
def portrait_bytes(portrait_video) -> bytes:
    """A real 360x640 MP4, as the Twitch CDN serves it."""
    return portrait_video.read_bytes()


@pytest.fixture
def http(clerk_settings, twitch):
    """Clerk and Twitch share one mock (MEDIA_ROOT is a fresh tmp folder): every outbound call is registered."""
    return twitch


@pytest.fixture
def clip(streamer) -> Clip:
    return make_clip(streamer, twitch_clip_id="FunnyClip-xyz", broadcaster_id=BROADCASTER_ID)


def fetch(clip: Clip) -> Clip:
    fetched = services.clip_media_fetch(clip_id=str(clip.pk))
    fetched.refresh_from_db()
    return fetched


def stored_files(settings) -> list[Path]:
    return sorted(path for path in Path(settings.MEDIA_ROOT).rglob("*") if path.is_file())


def in_storage(settings, *names: str) -> list[Path]:
    return sorted(Path(settings.MEDIA_ROOT) / name for name in names)


# --- has_portrait means a portrait file is stored ------------------------------------------------------


def test_a_clip_offered_in_both_layouts_stores_the_portrait_version_and_says_so(
    http, clip, landscape_bytes, portrait_bytes, settings
):
    serve_clip_downloads(http, clip, landscape=landscape_bytes, portrait=portrait_bytes)

    fetched = fetch(clip)

    assert fetched.has_portrait is True
    assert fetched.portrait_file.name != fetched.media_file.name
    assert (probe_video(fetched.portrait_file.path).width, probe_video(fetched.portrait_file.path).height) == (360, 640)
    assert stored_files(settings) == in_storage(settings, fetched.media_file.name, fetched.portrait_file.name)


def test_a_portrait_version_that_fails_to_download_is_not_claimed(http, clip, landscape_bytes, settings):
    serve_clip_downloads(http, clip, landscape=landscape_bytes, portrait=403)

    fetched = fetch(clip)

    assert fetched.media_status == Clip.MediaStatus.READY
    assert fetched.has_portrait is False
    assert not fetched.portrait_file
    assert stored_files(settings) == in_storage(settings, fetched.media_file.name)


def test_a_clip_offered_only_in_portrait_keeps_it_as_its_main_file_without_claiming_a_portrait_version(
    http, clip, portrait_bytes, settings
):
    serve_clip_downloads(http, clip, landscape=None, portrait=portrait_bytes)

    fetched = fetch(clip)

    assert fetched.media_status == Clip.MediaStatus.READY
    assert (fetched.media_width, fetched.media_height) == (360, 640)
    assert fetched.has_portrait is False
    assert not fetched.portrait_file
    assert stored_files(settings) == in_storage(settings, fetched.media_file.name)


def test_a_refetch_that_no_longer_gets_a_portrait_version_removes_the_old_one(
    http, clip, landscape_bytes, portrait_bytes, settings
):
    serve_clip_downloads(http, clip, landscape=landscape_bytes, portrait=portrait_bytes)
    assert fetch(clip).has_portrait is True
    serve_clip_downloads(http, clip, landscape=landscape_bytes)

    refetched = fetch(clip)

    assert refetched.has_portrait is False
    assert not refetched.portrait_file
    assert stored_files(settings) == in_storage(settings, refetched.media_file.name)


def test_a_refetch_whose_portrait_download_fails_does_not_keep_claiming_the_old_one(
    http, clip, landscape_bytes, portrait_bytes, settings
):
    serve_clip_downloads(http, clip, landscape=landscape_bytes, portrait=portrait_bytes)
    fetch(clip)
    http.replace("GET", PORTRAIT_URL, status=403)

    refetched = fetch(clip)

    assert refetched.media_status == Clip.MediaStatus.READY
    assert (refetched.has_portrait, refetched.portrait_file.name) == (False, "")
    assert stored_files(settings) == in_storage(settings, refetched.media_file.name)


def test_the_api_offers_a_portrait_version_only_when_one_is_stored(
    api_client, bearer, http, clip, landscape_bytes, settings
):
    serve_clip_downloads(http, clip, landscape=landscape_bytes, portrait=403)
    fetch(clip)

    body = api_client.get(f"/api/clips/{clip.pk}/", **bearer(clip.owner)).json()

    assert (body["media_status"], body["has_portrait"]) == ("ready", False)


# --- Deleting a clip deletes its files ----------------------------------------------------------------


@pytest.fixture
def clip_with_both_files(owner, media_root, landscape_video, portrait_video) -> Clip:
    return make_ready_clip(owner, landscape_video, portrait=portrait_video)


def test_deleting_a_clip_removes_its_video_and_its_portrait_version_after_commit(
    api_client, bearer, clip_with_both_files, settings, django_capture_on_commit_callbacks
):
    clip = clip_with_both_files
    names = [clip.media_file.name, clip.portrait_file.name]

    with django_capture_on_commit_callbacks() as callbacks:
        response = api_client.delete(f"/api/clips/{clip.pk}/", **bearer(clip.owner))
        assert stored_files(settings) == in_storage(settings, *names)  # not before the deletion commits
    for callback in callbacks:
        callback()

    assert response.status_code == 204
    assert not Clip.objects.filter(pk=clip.pk).exists()
    assert stored_files(settings) == []


class Rollback(Exception):
    pass


@transaction.atomic
def delete_then_fail(clip: Clip) -> None:
    services.clip_delete(clip=clip)
    raise Rollback


def test_a_deletion_that_rolls_back_keeps_both_files(
    clip_with_both_files, settings, django_capture_on_commit_callbacks
):
    clip = clip_with_both_files
    pk, names = clip.pk, [clip.media_file.name, clip.portrait_file.name]

    with django_capture_on_commit_callbacks(execute=True), pytest.raises(Rollback):
        delete_then_fail(clip)

    assert Clip.objects.filter(pk=pk).exists()
    assert stored_files(settings) == in_storage(settings, *names)
