"""The API docs page runs only assets we serve ourselves, pinned by requirements.txt."""

import re

import pytest
from django.contrib.staticfiles import finders
from django.core.management import call_command
from django.test import Client

ASSET_URL = re.compile(r'<(?:script|link)\b[^>]*?\b(?:src|href)="([^"]+)"')
DOCS_ASSETS = "/static/drf_spectacular_sidecar/swagger-ui-dist/"


def docs_asset_urls(client: Client) -> list[str]:
    response = client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    for third_party in ("cdn.jsdelivr", "unpkg", "@latest", "http://", "https://"):
        assert third_party not in html
    return ASSET_URL.findall(html)


def test_the_docs_page_loads_its_assets_from_our_static_files():
    urls = docs_asset_urls(Client())
    assert sorted(url.removeprefix(DOCS_ASSETS) for url in urls) == [
        "favicon-32x32.png",
        "swagger-ui-bundle.js",
        "swagger-ui-standalone-preset.js",
        "swagger-ui.css",
    ]
    for url in urls:
        assert finders.find(url.removeprefix("/static/")), f"{url} is not among the static files"


@pytest.fixture
def collected_static(settings, tmp_path):
    """What a deploy serves: collectstatic into the manifest storage, then WhiteNoise serving STATIC_ROOT."""
    settings.STATIC_ROOT = tmp_path / "staticfiles"
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    }
    call_command("collectstatic", "--noinput", verbosity=0)
    return settings.STATIC_ROOT


def test_a_deploy_serves_the_docs_assets_itself(collected_static):
    client = Client()  # a new client builds its middleware, so WhiteNoise scans the collected files
    urls = docs_asset_urls(client)
    assert len(urls) == 4
    for url in urls:
        assert url.startswith("/static/drf_spectacular_sidecar/swagger-ui-dist/")
        response = client.get(url)
        assert response.status_code == 200, url
        assert response["Cache-Control"] == "max-age=315360000, public, immutable"  # hashed by the manifest
