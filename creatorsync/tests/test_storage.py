"""S3 storage is configured from the environment and hands out presigned, expiring links (no network)."""

import subprocess
import sys
from urllib.parse import parse_qs, urlparse

from django.conf import settings

S3_ENV = {
    "STORAGE_BACKEND": "s3",
    "AWS_STORAGE_BUCKET_NAME": "creatorsync-media",
    "AWS_S3_ENDPOINT_URL": "https://s3.storage.test",
    "AWS_S3_REGION_NAME": "auto",
    "AWS_S3_ADDRESSING_STYLE": "path",
    "AWS_ACCESS_KEY_ID": "test-key",
    "AWS_SECRET_ACCESS_KEY": "test-secret",
    "SIGNED_MEDIA_MAX_AGE_SECONDS": "900",
}

PROBE = """
import django, json
django.setup()
from django.core.files.storage import storages
from core.signed_media import signed_file_url
print(json.dumps({"class": type(storages["default"]).__name__, "url": signed_file_url("clips/a/b/source.mp4")}))
"""


def test_s3_storage_signs_source_links_with_sigv4_and_the_configured_expiry():
    import json
    import os

    env = {**os.environ, **S3_ENV, "DJANGO_SETTINGS_MODULE": "creatorsync.settings", "DJANGO_DEBUG": "true"}
    result = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert answer["class"] == "S3Storage"
    url = urlparse(answer["url"])
    query = parse_qs(url.query)
    assert url.netloc == "s3.storage.test"
    assert url.path == "/creatorsync-media/clips/a/b/source.mp4"
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert query["X-Amz-Expires"] == ["900"]
    assert "X-Amz-Signature" in query


def test_local_storage_is_the_default():
    assert settings.STORAGES["default"]["BACKEND"] == "django.core.files.storage.FileSystemStorage"
