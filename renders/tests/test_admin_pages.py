"""What staff see of a render job: its output playing on the change page, its render time in the list."""

from datetime import timedelta
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import Client
from django.utils import timezone

from renders.models import RenderJob, render_output_path
from renders.tests.factories import make_job

pytestmark = pytest.mark.django_db

JOBS = "/admin/renders/renderjob/"
VIDEO_BYTES = b"\x00\x00\x00\x18ftypmp42" + b"rendered-video" * 100
REMOTION_OUTPUT = "https://remotionlambda-useast1-abc123.s3.us-east-1.amazonaws.com/renders/r1/out.mp4"
Status = RenderJob.Status


class _TagFinder(HTMLParser):
    def __init__(self, tag: str):
        super().__init__()
        self.tag = tag
        self.found: list[dict[str, str | None]] = []

    def handle_starttag(self, tag, attrs):
        if tag == self.tag:
            self.found.append(dict(attrs))


def tags(page: str, tag: str) -> list[dict[str, str | None]]:
    """The attributes (unescaped) of every `tag` element on the page."""
    finder = _TagFinder(tag)
    finder.feed(page)
    return finder.found


def change_page(staff_client, job: RenderJob) -> str:
    response = staff_client.get(f"{JOBS}{job.pk}/change/")
    assert response.status_code == 200
    return response.content.decode()


def body(response) -> bytes:
    try:
        return b"".join(response.streaming_content)
    finally:
        response.close()


@pytest.fixture
def succeeded_job(owner, clip, preset, media_root) -> RenderJob:
    """Rendered and copied into our storage."""
    job = make_job(owner, clip, preset, status=Status.SUCCEEDED, finished_at=timezone.now())
    name = default_storage.save(render_output_path(job, "out.mp4"), ContentFile(VIDEO_BYTES))
    RenderJob.objects.filter(pk=job.pk).update(output_file=name)
    return job


# --- The change page plays the output ----------------------------------------------------------------


def test_the_change_page_plays_a_stored_output_from_a_link_that_serves_its_bytes(staff_client, succeeded_job):
    (video,) = tags(change_page(staff_client, succeeded_job), "video")

    assert "controls" in video
    assert video["preload"] == "metadata"
    response = Client().get(urlsplit(video["src"]).path)  # the browser's fetch carries no admin session
    assert response.status_code == 200
    assert body(response) == VIDEO_BYTES


def test_the_output_is_the_first_thing_on_the_change_form(staff_client, succeeded_job):
    response = staff_client.get(f"{JOBS}{succeeded_job.pk}/change/")

    first_fieldset = next(iter(response.context["adminform"]))
    first_line = next(iter(first_fieldset))
    (first_field,) = list(first_line)
    assert (first_field.field["name"], first_field.field["label"]) == ("output_player", "Output")


def test_an_output_not_copied_yet_plays_from_where_the_backend_left_it(staff_client, owner, clip, preset, media_root):
    job = make_job(owner, clip, preset, status=Status.SUCCEEDED, output_url=REMOTION_OUTPUT)

    (video,) = tags(change_page(staff_client, job), "video")

    assert video["src"] == REMOTION_OUTPUT


def test_the_output_link_is_escaped_in_the_page(staff_client, owner, clip, preset, media_root):
    hostile = f'{REMOTION_OUTPUT}?X-Amz-Signature=abc&x="><script>alert(1)</script>'
    job = make_job(owner, clip, preset, status=Status.SUCCEEDED)
    RenderJob.objects.filter(pk=job.pk).update(output_url=hostile)

    page = change_page(staff_client, job)

    (video,) = tags(page, "video")
    assert video["src"] == hostile
    assert "<script>alert(1)" not in page


@pytest.mark.parametrize("status", [Status.QUEUED, Status.RENDERING, Status.FAILED, Status.CANCELLED])
def test_a_job_without_output_shows_no_player(staff_client, owner, clip, preset, media_root, status):
    job = make_job(owner, clip, preset, status=status)

    page = change_page(staff_client, job)

    assert tags(page, "video") == []
    assert "Output" in page


# --- The list shows render times --------------------------------------------------------------------


class _CellTexts(HTMLParser):
    def __init__(self, css_class: str):
        super().__init__()
        self.css_class = css_class
        self.texts: list[str] = []
        self.inside = False

    def handle_starttag(self, tag, attrs):
        self.inside = tag == "td" and self.css_class in (dict(attrs).get("class") or "").split()
        if self.inside:
            self.texts.append("")

    def handle_endtag(self, tag):
        if tag == "td":
            self.inside = False

    def handle_data(self, data):
        if self.inside:
            self.texts[-1] += data


def render_times(response) -> dict[str, str]:
    """Each listed job's id and the text of its Render time cell."""
    assert response.status_code == 200
    cells = _CellTexts("field-render_time")
    cells.feed(response.content.decode())
    ids = [str(job.pk) for job in response.context["cl"].result_list]
    return dict(zip(ids, cells.texts, strict=True))


def test_the_job_list_shows_each_jobs_render_time(staff_client, owner, clip, preset):
    finished = timezone.now()
    dispatched = make_job(
        owner,
        clip,
        preset,
        status=Status.SUCCEEDED,
        dispatched_at=finished - timedelta(seconds=12.3),
        finished_at=finished,
    )
    never_dispatched = make_job(owner, clip, preset, status=Status.CANCELLED, finished_at=finished)
    RenderJob.objects.filter(pk=never_dispatched.pk).update(created_at=finished - timedelta(seconds=4))
    rendering = make_job(owner, clip, preset, status=Status.RENDERING, dispatched_at=finished)

    response = staff_client.get(JOBS)

    assert "Render time" in response.content.decode()
    assert render_times(response) == {
        str(dispatched.pk): "12.3 s",
        str(never_dispatched.pk): "4.0 s",
        str(rendering.pk): "—",
    }
