"""Signed, expiring links to local media, for fetchers that cannot authenticate (Remotion Lambda)."""

from urllib.parse import urlsplit

import pytest
from django.core import signing
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from core.signed_media import SALT, signed_file_url
from core.tests.helpers import error_code

CONTENT = b"\x00\x00\x00\x18ftypmp42 not really a video, but bytes all the same"


@pytest.fixture
def stored_file(media_root) -> str:
    """The name of a file in local storage."""
    return default_storage.save("clips/someone/some-clip/source.mp4", ContentFile(CONTENT))


def path_of(url: str) -> str:
    return urlsplit(url).path


def body(response) -> bytes:
    try:
        return b"".join(response.streaming_content)
    finally:
        response.close()


def test_a_local_signed_url_lives_under_the_public_base_url(stored_file, settings):
    url = signed_file_url(stored_file)
    assert url.startswith(f"{settings.PUBLIC_BASE_URL}/signed-media/")
    assert url.endswith("/")


def test_a_signed_link_serves_the_files_bytes_without_authentication(client, stored_file):
    response = client.get(path_of(signed_file_url(stored_file)))
    assert response.status_code == 200
    assert body(response) == CONTENT


def test_a_tampered_token_is_refused_as_an_invalid_link(client, stored_file):
    token = path_of(signed_file_url(stored_file)).split("/")[2]
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")
    response = client.get(f"/signed-media/{tampered}/")
    assert response.status_code == 403
    assert error_code(response) == "invalid_link"


def test_a_token_signed_for_another_purpose_is_refused_as_an_invalid_link(client, stored_file):
    token = signing.dumps({"name": stored_file}, salt="some.other.salt", compress=True)
    response = client.get(f"/signed-media/{token}/")
    assert response.status_code == 403
    assert error_code(response) == "invalid_link"


def test_a_correctly_signed_token_without_a_name_is_refused_as_an_invalid_link(client, media_root):
    token = signing.dumps({"file": "clips/x.mp4"}, salt=SALT, compress=True)
    response = client.get(f"/signed-media/{token}/")
    assert response.status_code == 403
    assert error_code(response) == "invalid_link"


def test_an_expired_link_is_refused_as_expired(client, stored_file, settings):
    url = signed_file_url(stored_file)
    settings.SIGNED_MEDIA_MAX_AGE_SECONDS = -1  # any age is now too old
    response = client.get(path_of(url))
    assert response.status_code == 403
    assert error_code(response) == "link_expired"


def test_a_link_to_a_file_that_no_longer_exists_is_not_found(client, stored_file):
    url = signed_file_url(stored_file)
    default_storage.delete(stored_file)
    response = client.get(path_of(url))
    assert response.status_code == 404
    assert error_code(response) == "not_found"


def test_a_signed_link_only_answers_get(client, stored_file):
    response = client.post(path_of(signed_file_url(stored_file)))
    assert response.status_code == 405
