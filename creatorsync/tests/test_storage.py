"""S3 storage is configured from the environment and hands out presigned, expiring links (no network).

The settings are read in a fresh interpreter, from an environment each test writes in full: the
developer's shell, `.env` file and AWS configuration play no part.
"""

import json
import os
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
import json

import environ

# Test-only guard: settings.py reads BASE_DIR/.env, whose values would fill any variable not set here.
environ.Env.read_env = classmethod(lambda cls, *args, **kwargs: None)

import django

django.setup()
from django.core.files.storage import storages
from core.signed_media import signed_file_url

print(json.dumps({"class": type(storages["default"]).__name__, "url": signed_file_url("clips/a/b/source.mp4")}))
"""


def probe_storage(tmp_path, **variables: str) -> dict:
    """The default storage's class and a signed link to a file, as a process with only these variables sees them."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "DJANGO_SETTINGS_MODULE": "creatorsync.settings",
        "DJANGO_DEBUG": "true",
        "PUBLIC_BASE_URL": "https://api.creatorsync.test",
        # Never connected to by django.setup(); named so that the embedded PostgreSQL is not started.
        "DATABASE_URL": "postgres://creatorsync@127.0.0.1:1/unused",
        **variables,
    }
    result = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_s3_storage_signs_source_links_with_sigv4_and_the_configured_expiry(tmp_path):
    answer = probe_storage(tmp_path, **S3_ENV)

    assert answer["class"] == "S3Storage"
    url = urlparse(answer["url"])
    query = parse_qs(url.query)
    assert url.netloc == "s3.storage.test"
    assert url.path == "/creatorsync-media/clips/a/b/source.mp4"
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert query["X-Amz-Expires"] == ["900"]
    assert query["X-Amz-Credential"][0].startswith("test-key/")
    assert "X-Amz-Signature" in query


def test_local_storage_is_the_default(tmp_path):
    answer = probe_storage(tmp_path)

    assert answer["class"] == "FileSystemStorage"
    assert answer["url"].startswith("https://api.creatorsync.test/signed-media/")
