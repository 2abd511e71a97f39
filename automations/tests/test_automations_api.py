"""The automations API: owner-scoped CRUD of automations, and the runs each one made."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from automations.models import Automation, AutomationRun
from clips.tests.factories import make_clip
from core.tests.helpers import error_code, error_details
from publishing.models import Publication
from publishing.tests.factories import make_publication
from renders.models import RenderJob, RenderTemplate
from renders.tests.factories import make_job

pytestmark = pytest.mark.django_db

AUTOMATIONS = "/api/automations/"
NOWHERE = "00000000-0000-0000-0000-000000000000"
Step, RunStatus = AutomationRun.Step, AutomationRun.Status


def automation_url(automation: Automation | str, action: str = "") -> str:
    pk = automation.pk if isinstance(automation, Automation) else automation
    return f"{AUTOMATIONS}{pk}/{action + '/' if action else ''}"


def make_template(owner, preset, name: str = "Highlights") -> RenderTemplate:
    return RenderTemplate.objects.create(owner=owner, name=name, preset=preset, props={"layout": "fill"})


def make_automation(owner, template, *, name: str = "Top clips", **fields) -> Automation:
    return Automation.objects.create(owner=owner, name=name, template=template, **fields)


def make_run(automation, *, age: timedelta = timedelta(0), **fields) -> AutomationRun:
    clip = fields.pop("clip", None) or make_clip(automation.owner)
    run = AutomationRun.objects.create(automation=automation, clip=clip, batch="import:test", **fields)
    AutomationRun.objects.filter(pk=run.pk).update(created_at=timezone.now() - age)
    return run


@pytest.fixture
def template(owner, preset):
    return make_template(owner, preset)


@pytest.fixture
def automation(owner, template):
    return make_automation(owner, template)


@pytest.fixture
def send(api_client, bearer, owner):
    """`send(method, url, data=None, user=owner)`: an API call with a bearer token."""

    def call(method: str, url: str, data: dict | None = None, *, user=None):
        headers = bearer(user or owner)
        if data is None:
            return getattr(api_client, method)(url, **headers)
        return getattr(api_client, method)(url, data, format="json", **headers)

    return call


def body(template, **fields) -> dict:
    return {
        "name": "Top clips",
        "template": str(template.pk),
        "enabled": True,
        "min_views": 50,
        "games": ["509658"],
        "max_per_stream": 3,
        "publish": True,
        **fields,
    }


def field_errors(response) -> dict:
    assert response.status_code == 400, response.content
    assert error_code(response) == "validation_error"
    return error_details(response)


# --- Authentication -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", AUTOMATIONS),
        ("post", AUTOMATIONS),
        ("get", f"{AUTOMATIONS}{NOWHERE}/"),
        ("patch", f"{AUTOMATIONS}{NOWHERE}/"),
        ("delete", f"{AUTOMATIONS}{NOWHERE}/"),
        ("get", f"{AUTOMATIONS}{NOWHERE}/runs/"),
    ],
)
def test_every_endpoint_requires_authentication(api_client, method, path):
    response = getattr(api_client, method)(path)

    assert response.status_code == 401
    assert error_code(response) == "not_authenticated"


# --- Creating -------------------------------------------------------------------------------------


def test_an_automation_is_created_and_returned(send, owner, template):
    response = send("post", AUTOMATIONS, body(template))

    assert response.status_code == 201, response.content
    returned = response.json()
    assert {name: returned[name] for name in body(template)} == body(template)
    stored = Automation.objects.get(pk=returned["id"])
    assert (stored.owner, stored.template, stored.games, stored.max_per_stream) == (owner, template, ["509658"], 3)
    assert (stored.enabled, stored.min_views, stored.publish) == (True, 50, True)


def test_only_a_name_and_a_template_are_required(send, template):
    response = send("post", AUTOMATIONS, {"name": "Everything", "template": str(template.pk)})

    assert response.status_code == 201, response.content
    returned = response.json()
    assert (returned["enabled"], returned["min_views"], returned["games"]) == (True, 0, [])
    assert (returned["max_per_stream"], returned["publish"]) == (None, False)


@pytest.mark.parametrize("missing", ["name", "template"])
def test_a_missing_name_or_template_is_a_field_error(send, template, missing):
    data = body(template)
    del data[missing]

    assert set(field_errors(send("post", AUTOMATIONS, data))) == {missing}


def test_a_strangers_template_looks_unknown(send, stranger, preset):
    strangers = make_template(stranger, preset)

    details = field_errors(send("post", AUTOMATIONS, body(strangers)))
    unknown = field_errors(send("post", AUTOMATIONS, {**body(strangers), "template": NOWHERE}))

    assert set(details) == {"template"}
    assert details["template"] == [message.replace(NOWHERE, str(strangers.pk)) for message in unknown["template"]]
    assert not Automation.objects.exists()


@pytest.mark.parametrize("template_id", ["not-a-uuid", 42, None])
def test_a_malformed_template_id_is_a_field_error(send, template, template_id):
    assert set(field_errors(send("post", AUTOMATIONS, {**body(template), "template": template_id}))) == {"template"}


@pytest.mark.parametrize(
    "games",
    [["Valorant"], ["509658", "12a"], [""], ["1" * 33], ["-5"], ["1.5"], "509658", [{"id": "509658"}], [True]],
    ids=["name", "one-bad", "empty", "too-long", "negative", "decimal", "not-a-list", "object", "boolean"],
)
def test_games_must_be_twitch_game_ids(send, template, games):
    assert set(field_errors(send("post", AUTOMATIONS, body(template, games=games)))) == {"games"}
    assert not Automation.objects.exists()


def test_several_games_are_kept_in_order(send, template):
    response = send("post", AUTOMATIONS, body(template, games=["33214", "509658"]))

    assert response.status_code == 201, response.content
    assert Automation.objects.get().games == ["33214", "509658"]


@pytest.mark.parametrize(
    ("field", "value"),
    [("max_per_stream", 0), ("max_per_stream", -1), ("max_per_stream", 101), ("min_views", -1), ("enabled", "maybe")],
)
def test_out_of_range_numbers_are_field_errors(send, template, field, value):
    assert set(field_errors(send("post", AUTOMATIONS, body(template, **{field: value})))) == {field}


@pytest.mark.parametrize("value", [1, 100, None])
def test_max_per_stream_may_be_1_to_100_or_unlimited(send, template, value):
    response = send("post", AUTOMATIONS, body(template, max_per_stream=value))

    assert response.status_code == 201, response.content
    assert Automation.objects.get().max_per_stream == value


# --- Reading --------------------------------------------------------------------------------------


def test_the_list_shows_only_the_callers_automations_newest_first(send, owner, stranger, preset, template):
    older = make_automation(owner, template, name="Older")
    newer = make_automation(owner, template, name="Newer")
    Automation.objects.filter(pk=older.pk).update(created_at=timezone.now() - timedelta(days=1))
    make_automation(stranger, make_template(stranger, preset), name="Theirs")

    response = send("get", AUTOMATIONS)

    assert response.status_code == 200
    assert [row["id"] for row in response.json()["results"]] == [str(newer.pk), str(older.pk)]


def test_the_owner_retrieves_an_automation(send, template):
    automation = make_automation(template.owner, template, games=["509658"], max_per_stream=2, publish=True)

    response = send("get", automation_url(automation))

    assert response.status_code == 200
    returned = response.json()
    assert returned["id"] == str(automation.pk)
    assert returned["template"] == str(template.pk)
    assert (returned["games"], returned["max_per_stream"], returned["publish"]) == (["509658"], 2, True)


# --- Changing and deleting ------------------------------------------------------------------------


def test_a_patch_changes_only_what_it_names(send, automation):
    Automation.objects.filter(pk=automation.pk).update(games=["509658"], min_views=10)

    response = send("patch", automation_url(automation), {"enabled": False, "max_per_stream": 5})

    assert response.status_code == 200, response.content
    automation.refresh_from_db()
    assert (automation.enabled, automation.max_per_stream) == (False, 5)
    assert (automation.name, automation.games, automation.min_views) == ("Top clips", ["509658"], 10)


def test_an_automation_moves_to_another_of_the_owners_templates(send, owner, preset, automation):
    other = make_template(owner, preset, name="Other")

    response = send("patch", automation_url(automation), {"template": str(other.pk)})

    assert response.status_code == 200, response.content
    automation.refresh_from_db()
    assert automation.template == other


def test_a_patch_to_a_strangers_template_or_bad_values_is_refused(send, stranger, preset, automation, template):
    strangers = make_template(stranger, preset)

    assert set(field_errors(send("patch", automation_url(automation), {"template": str(strangers.pk)}))) == {"template"}
    assert set(field_errors(send("patch", automation_url(automation), {"games": ["Valorant"]}))) == {"games"}
    assert set(field_errors(send("patch", automation_url(automation), {"max_per_stream": 0}))) == {"max_per_stream"}
    automation.refresh_from_db()
    assert (automation.template, automation.games, automation.max_per_stream) == (template, [], None)


def test_deleting_an_automation_deletes_its_runs_and_frees_its_template(send, automation, template):
    make_run(automation)

    response = send("delete", automation_url(automation))

    assert response.status_code == 204
    assert not Automation.objects.exists()
    assert not AutomationRun.objects.exists()
    assert send("delete", f"/api/templates/{template.pk}/").status_code == 204


@pytest.mark.parametrize(
    ("method", "path", "data"),
    [
        ("get", "", None),
        ("patch", "", {"enabled": False}),
        ("delete", "", None),
        ("get", "runs", None),
    ],
)
def test_a_stranger_gets_404_for_someone_elses_automation(send, stranger, automation, method, path, data):
    make_run(automation)

    response = send(method, automation_url(automation, path), data, user=stranger)

    assert response.status_code == 404
    assert error_code(response) == "not_found"
    automation.refresh_from_db()
    assert automation.enabled is True
    assert AutomationRun.objects.filter(automation=automation).count() == 1


# --- Runs -----------------------------------------------------------------------------------------


def test_runs_list_each_clips_step_render_and_publications(send, owner, preset, automation):
    clip = make_clip(owner, title="Insane ace")
    render = make_job(owner, clip, preset, status=RenderJob.Status.SUCCEEDED)
    posted = make_publication(
        render, "youtube", status=Publication.Status.PUBLISHED, external_url="https://youtu.be/abc123"
    )
    uploading = make_publication(render, "tiktok", status=Publication.Status.UPLOADING)
    done = make_run(
        automation,
        clip=clip,
        render=render,
        step=Step.DONE,
        status=RunStatus.SUCCEEDED,
        publication_ids=[str(posted.pk), str(uploading.pk)],
    )
    failed = make_run(automation, step=Step.LAYOUT, status=RunStatus.FAILED, error="No layout", age=timedelta(hours=1))
    make_run(make_automation(owner, automation.template, name="Another"))  # another automation's run

    response = send("get", automation_url(automation, "runs"))

    assert response.status_code == 200, response.content
    rows = response.json()["results"]
    assert [row["id"] for row in rows] == [str(done.pk), str(failed.pk)]
    first, second = rows
    assert (first["clip"], first["clip_title"]) == (str(clip.pk), "Insane ace")
    assert (first["step"], first["status"], first["error"]) == ("done", "succeeded", "")
    assert (first["render"], first["render_status"]) == (str(render.pk), "succeeded")
    assert first["publications"] == [
        {"id": str(posted.pk), "platform": "youtube", "status": "published", "external_url": "https://youtu.be/abc123"},
        {"id": str(uploading.pk), "platform": "tiktok", "status": "uploading", "external_url": ""},
    ]
    assert (second["step"], second["status"], second["error"]) == ("layout", "failed", "No layout")
    assert (second["render"], second["render_status"], second["publications"]) == (None, None, [])


def test_a_publication_not_made_yet_or_deleted_is_left_out(send, owner, preset, automation):
    clip = make_clip(owner)
    render = make_job(owner, clip, preset, status=RenderJob.Status.SUCCEEDED)
    kept = make_publication(render, "youtube")
    gone = make_publication(render, "tiktok")
    make_run(
        automation, clip=clip, render=render, step=Step.PUBLISH, publication_ids=[str(kept.pk), None, str(gone.pk)]
    )
    gone.delete()

    response = send("get", automation_url(automation, "runs"))

    assert [pub["id"] for pub in response.json()["results"][0]["publications"]] == [str(kept.pk)]


def test_the_runs_take_the_same_number_of_queries_for_1_or_5_runs(send, owner, preset, automation):
    send("get", automation_url(automation, "runs"))  # warms the Clerk key cache

    def queries_listing(count: int) -> int:
        AutomationRun.objects.all().delete()
        for _ in range(count):
            clip = make_clip(owner)
            render = make_job(owner, clip, preset, status=RenderJob.Status.SUCCEEDED)
            publications = [make_publication(render, "youtube"), make_publication(render, "tiktok")]
            make_run(automation, clip=clip, render=render, publication_ids=[str(pub.pk) for pub in publications])
        with CaptureQueriesContext(connection) as queries:
            response = send("get", automation_url(automation, "runs"))
        rows = response.json()["results"]
        assert len(rows) == count
        assert all(len(row["publications"]) == 2 and row["render_status"] == "succeeded" for row in rows)
        return len(queries)

    one, five = queries_listing(1), queries_listing(5)

    assert one == five
    assert five <= 5, five  # the user, the automation, the count, the page, the publications
