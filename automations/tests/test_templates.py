"""Render templates: saved, checked exactly as a render request and a post are, owner-scoped, and rendered with."""

import pytest

from automations.models import Automation
from clips.models import Clip, LayoutSuggestion
from core.tests.helpers import error_code, error_details
from publishing.tests.factories import serve_no_connection
from renders.models import RenderJob, RenderTemplate
from renders.templates import fill_placeholders
from renders.tests.factories import make_preset

pytestmark = pytest.mark.django_db

TEMPLATES = "/api/templates/"
RENDERS = "/api/renders/"
NOWHERE = "00000000-0000-0000-0000-000000000000"

YOUTUBE_POST = {
    "platform": "youtube",
    "privacy": "public",
    "title": "{clip_title} | {game}",
    "description": "by {broadcaster}",
}
PROPS = {"layout": "auto", "captions": {"style": "pop"}}
SPLIT_RECTS = {
    "facecam": {"x": 0.7, "y": 0.0, "width": 0.3, "height": 0.3},
    "gameplay": {"x": 0.0, "y": 0.0, "width": 0.7, "height": 1.0},
}


def template_url(template: RenderTemplate | str) -> str:
    return f"{TEMPLATES}{template.pk if isinstance(template, RenderTemplate) else template}/"


def make_template(owner, preset, *, name: str = "Highlights", **fields) -> RenderTemplate:
    """A template row as the API stores it; no publish targets unless given (so no connection is needed)."""
    defaults = {"props": {"layout": "fill"}, "publish": []}
    return RenderTemplate.objects.create(owner=owner, name=name, preset=preset, **{**defaults, **fields})


@pytest.fixture
def post_template(api_client, bearer, owner, preset):
    """`post_template(**fields)`: the owner's POST /api/templates/ of a valid template, with `fields` replaced."""

    def post(**fields):
        data = {"name": "Highlights", "preset": preset.slug, "props": PROPS, "publish": [YOUTUBE_POST], **fields}
        return api_client.post(TEMPLATES, data, format="json", **bearer(owner))

    return post


@pytest.fixture
def post_render(api_client, bearer, owner, ready_clip, settings):
    """`post_render(**fields)`: the owner's POST /api/renders/ for their ready (3-second) clip."""
    settings.RENDER_BACKEND = "local"

    def post(**fields):
        return api_client.post(RENDERS, {"clip": str(ready_clip.pk), **fields}, format="json", **bearer(owner))

    return post


def post_error(response, code: str, status: int = 400):
    assert response.status_code == status, response.content
    assert error_code(response) == code
    return response.json()["error"].get("details")


# --- Authentication -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", TEMPLATES), ("post", TEMPLATES), ("get", f"{TEMPLATES}{NOWHERE}/"), ("delete", f"{TEMPLATES}{NOWHERE}/")],
)
def test_every_endpoint_requires_authentication(api_client, method, path):
    response = getattr(api_client, method)(path)

    assert response.status_code == 401
    assert error_code(response) == "not_authenticated"


# --- Creating -------------------------------------------------------------------------------------


def test_a_template_is_saved_and_returned(post_template, owner, preset, youtube):
    response = post_template()

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["name"] == "Highlights"
    assert body["preset"] == preset.slug
    assert body["props"] == PROPS
    assert body["publish"] == [YOUTUBE_POST]
    stored = RenderTemplate.objects.get(pk=body["id"])
    assert stored.owner == owner
    assert (stored.preset, stored.props, stored.publish) == (preset, PROPS, [YOUTUBE_POST])


def test_a_tiktok_target_is_stored_with_tiktoks_own_privacy_level(post_template, tiktok):
    response = post_template(publish=[{"platform": "tiktok", "privacy": "private", "title": "{clip_title}"}])

    assert response.status_code == 201, response.content
    assert response.json()["publish"] == [
        {"platform": "tiktok", "privacy": "SELF_ONLY", "title": "{clip_title}", "description": ""}
    ]


def test_what_depends_on_the_clip_is_left_to_each_render(post_template):
    # Longer than many clips, and a portrait layout some clips lack: each render checks its own clip.
    props = {"trim_start": 0, "trim_end": 60, "layout": "portrait"}

    response = post_template(props=props, publish=[])

    assert response.status_code == 201, response.content
    assert RenderTemplate.objects.get().props == props


def test_an_unknown_preset_is_a_field_error(post_template):
    details = post_error(post_template(preset="no-such-preset", publish=[]), "validation_error")

    assert "preset" in details
    assert not RenderTemplate.objects.exists()


@pytest.mark.parametrize(
    ("props", "fields"),
    [
        ({"layout": "diagonal"}, {"layout"}),
        ({"aspect": "3:4"}, {"aspect"}),
        ({"layout": "split"}, {"facecam", "gameplay"}),
        ({"layout": "split", "facecam": SPLIT_RECTS["facecam"]}, {"gameplay"}),
        ({"layout": "split", **SPLIT_RECTS, "facecam": {"x": 0.8, "y": 0, "width": 0.3, "height": 0.3}}, {"facecam"}),
        ({"trim_start": 0, "trim_end": 2.5}, {"trim_end"}),  # over RENDER_MAX_SECONDS (2 here)
        ({"trim_start": 2, "trim_end": 1}, {"trim_start"}),
        ({"captions": {"style": "comic-sans"}}, {"captions"}),
        ({"title": "x" * 81}, {"title"}),
    ],
    ids=[
        "layout",
        "aspect",
        "split-without-rects",
        "split-without-gameplay",
        "rect-off-frame",
        "too-long",
        "trim",
        "captions",
        "title",
    ],
)
def test_template_props_are_refused_exactly_as_a_render_request_refuses_them(
    post_template, post_render, preset, settings, props, fields
):
    settings.RENDER_MAX_SECONDS = 2  # below the 3-second clip's length, so only the maximum is broken

    template = post_template(props=props, publish=[])
    render = post_render(preset=preset.slug, props=props)

    template_details = post_error(template, "validation_error")
    assert set(template_details["props"]) == fields
    assert render.status_code == template.status_code
    assert error_code(render) == error_code(template)
    assert error_details(render) == template_details
    assert not RenderTemplate.objects.exists()
    assert not RenderJob.objects.exists()


def test_a_template_of_exactly_the_longest_short_is_accepted(post_template, settings):
    settings.RENDER_MAX_SECONDS = 2

    response = post_template(props={"trim_start": 0.5, "trim_end": 2.5}, publish=[])

    assert response.status_code == 201, response.content


def test_props_that_are_not_an_object_are_refused(post_template):
    details = post_error(post_template(props=["layout", "fill"], publish=[]), "validation_error")

    assert "props" in details


# --- Publish targets ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "title",
    [
        "{clip_title} " + "x" * 90,  # 101 characters once {clip_title} holds "Clip title"
        "<b>{clip_title}</b>",
        "{game} >> {broadcaster}",
    ],
)
def test_a_youtube_title_youtube_would_refuse_is_a_400(post_template, youtube, title):
    details = post_error(post_template(publish=[{**YOUTUBE_POST, "title": title}]), "invalid_title")

    assert details == {"publish": {"0": {"field": "title"}}}
    assert not RenderTemplate.objects.exists()


def test_the_youtube_title_is_measured_once_filled(post_template, youtube):
    title = "{broadcaster} " + "x" * 91  # 105 characters as typed, 100 once filled

    response = post_template(publish=[{**YOUTUBE_POST, "title": title}])

    assert response.status_code == 201, response.content
    assert response.json()["publish"][0]["title"] == title


def test_a_youtube_description_with_angle_brackets_is_a_400(post_template, youtube):
    details = post_error(
        post_template(publish=[{**YOUTUBE_POST, "description": "<3 {broadcaster}"}]), "invalid_description"
    )

    assert details == {"publish": {"0": {"field": "description"}}}


@pytest.mark.parametrize("field", ["title", "description"])
def test_an_unknown_placeholder_is_a_400_naming_it(post_template, youtube, field):
    details = post_error(
        post_template(publish=[{**YOUTUBE_POST, field: "{clip_title} with {views} views"}]), "invalid_placeholder"
    )

    assert details == {"publish": {"0": {"placeholder": "views"}}}


@pytest.mark.parametrize("text", ["{clip_title", "clip_title}", "{clip_title} {", "{}", "{0}"])
def test_unbalanced_braces_or_unnamed_fields_are_a_400(post_template, youtube, text):
    response = post_template(publish=[{**YOUTUBE_POST, "title": text}])

    post_error(response, "invalid_placeholder")
    assert "publish" in error_details(response)


def test_doubled_braces_are_literal_ones(post_template, youtube):
    response = post_template(publish=[{**YOUTUBE_POST, "title": "{{live}} {clip_title}"}])

    assert response.status_code == 201, response.content


@pytest.mark.parametrize("title", ["{game:d}", "{clip_title!x}", "{game:{views}}"])
def test_a_format_spec_or_conversion_is_an_invalid_placeholder(post_template, youtube, title):
    post_error(post_template(publish=[{**YOUTUBE_POST, "title": title}]), "invalid_placeholder")


@pytest.mark.parametrize(
    ("platform", "privacy", "named"),
    [
        ("tiktok", "unlisted", ["public", "private", "PUBLIC_TO_EVERYONE", "SELF_ONLY"]),
        ("youtube", "friends", ["public", "unlisted", "private"]),
    ],
)
def test_a_privacy_the_platform_does_not_know_is_a_400_naming_the_allowed_ones(
    post_template, youtube, tiktok, platform, privacy, named
):
    response = post_template(publish=[{"platform": platform, "privacy": privacy}])

    details = post_error(response, "invalid_privacy")
    allowed = details["publish"]["0"]["allowed"]
    assert set(named) <= set(allowed)
    assert privacy not in allowed
    assert all(level in response.json()["error"]["message"] for level in named)


def test_a_privacy_level_the_tiktok_account_may_not_use_is_a_400(post_template, tiktok):
    tiktok.privacy_options = ["SELF_ONLY"]

    details = post_error(post_template(publish=[{"platform": "tiktok", "privacy": "public"}]), "invalid_privacy")

    assert details["publish"]["0"]["allowed"] == ["SELF_ONLY"]


@pytest.mark.parametrize("platform", ["youtube", "tiktok"])
def test_a_target_whose_platform_is_not_connected_is_a_409(
    post_template, mocked_http, owner, publishing_settings, platform
):
    serve_no_connection(mocked_http, owner, platform)

    response = post_template(publish=[{"platform": platform, "privacy": "public", "title": "{clip_title}"}])

    assert post_error(response, "account_not_connected", 409)["platform"] == platform
    assert not RenderTemplate.objects.exists()


def test_an_unknown_platform_is_a_field_error(post_template):
    details = post_error(post_template(publish=[{"platform": "myspace"}]), "validation_error")

    assert "platform" in details["publish"]["0"]


def test_a_platform_may_be_targeted_once(post_template, youtube):
    details = post_error(
        post_template(publish=[YOUTUBE_POST, {**YOUTUBE_POST, "privacy": "private"}]), "validation_error"
    )

    assert "youtube" in details["publish"][0]
    assert not RenderTemplate.objects.exists()


def test_the_second_target_is_named_by_its_index(post_template, youtube, tiktok):
    second = {"platform": "tiktok", "privacy": "unlisted"}

    details = post_error(post_template(publish=[YOUTUBE_POST, second]), "invalid_privacy")

    assert list(details["publish"]) == ["1"]


# --- Names ----------------------------------------------------------------------------------------


def test_a_second_template_of_the_same_name_is_a_409(post_template, owner, preset):
    make_template(owner, preset, name="Highlights")

    assert post_error(post_template(name="Highlights", publish=[]), "template_name_taken", 409) is None
    assert RenderTemplate.objects.filter(owner=owner).count() == 1


def test_another_users_template_name_is_free(post_template, stranger, preset):
    make_template(stranger, preset, name="Highlights")

    assert post_template(name="Highlights", publish=[]).status_code == 201


# --- Reading --------------------------------------------------------------------------------------


def test_the_list_shows_only_the_callers_templates_by_name(api_client, bearer, owner, stranger, preset):
    make_template(owner, preset, name="Zoomed")
    make_template(owner, preset, name="Alpha")
    make_template(stranger, preset, name="Mine")

    response = api_client.get(TEMPLATES, **bearer(owner))

    assert response.status_code == 200
    assert [row["name"] for row in response.json()["results"]] == ["Alpha", "Zoomed"]


def test_the_owner_retrieves_a_template(api_client, bearer, owner, preset):
    template = make_template(owner, preset, props=PROPS, publish=[YOUTUBE_POST])

    response = api_client.get(template_url(template), **bearer(owner))

    assert response.status_code == 200
    body = response.json()
    assert body["id"] == str(template.pk)
    assert (body["name"], body["preset"], body["props"], body["publish"]) == (
        "Highlights",
        preset.slug,
        PROPS,
        [YOUTUBE_POST],
    )


# --- Changing and deleting ------------------------------------------------------------------------


def patch(api_client, bearer, owner, template, data):
    return api_client.patch(template_url(template), data, format="json", **bearer(owner))


def test_changing_only_the_name_keeps_props_and_targets(api_client, bearer, owner, preset, youtube):
    template = make_template(owner, preset, props=PROPS, publish=[YOUTUBE_POST])

    response = patch(api_client, bearer, owner, template, {"name": "Renamed"})

    assert response.status_code == 200, response.content
    assert response.json()["name"] == "Renamed"
    template.refresh_from_db()
    assert (template.name, template.preset, template.props, template.publish) == (
        "Renamed",
        preset,
        PROPS,
        [YOUTUBE_POST],
    )


def test_changed_props_are_checked_again(api_client, bearer, owner, preset):
    template = make_template(owner, preset, props={"layout": "fill", "aspect": "1:1"})

    refused = patch(api_client, bearer, owner, template, {"props": {"layout": "split"}})
    accepted = patch(api_client, bearer, owner, template, {"props": {"layout": "fit_blur"}})

    assert set(post_error(refused, "validation_error")["props"]) == {"facecam", "gameplay"}
    assert accepted.status_code == 200, accepted.content
    template.refresh_from_db()
    assert template.props == {"layout": "fit_blur"}  # props are replaced, not merged


def test_changed_targets_are_checked_again(api_client, bearer, owner, preset, youtube):
    template = make_template(owner, preset, publish=[YOUTUBE_POST])

    response = patch(api_client, bearer, owner, template, {"publish": [{**YOUTUBE_POST, "title": "{views}"}]})

    post_error(response, "invalid_placeholder")
    template.refresh_from_db()
    assert template.publish == [YOUTUBE_POST]


def test_new_targets_are_stored_with_their_defaults(api_client, bearer, owner, preset, youtube):
    template = make_template(owner, preset, publish=[YOUTUBE_POST])

    response = patch(api_client, bearer, owner, template, {"publish": [{"platform": "youtube", "title": "{game}"}]})

    assert response.status_code == 200, response.content
    template.refresh_from_db()
    assert template.publish == [{"platform": "youtube", "privacy": "public", "title": "{game}", "description": ""}]
    assert template.props == {"layout": "fill"}


def test_renaming_to_a_taken_name_is_a_409(api_client, bearer, owner, preset):
    make_template(owner, preset, name="Taken")
    template = make_template(owner, preset, name="Mine")

    post_error(patch(api_client, bearer, owner, template, {"name": "Taken"}), "template_name_taken", 409)
    template.refresh_from_db()
    assert template.name == "Mine"


def test_a_template_is_deleted(api_client, bearer, owner, preset):
    template = make_template(owner, preset)

    response = api_client.delete(template_url(template), **bearer(owner))

    assert response.status_code == 204
    assert not RenderTemplate.objects.filter(pk=template.pk).exists()


def test_a_template_an_automation_uses_cannot_be_deleted(api_client, bearer, owner, preset):
    template = make_template(owner, preset)
    Automation.objects.create(owner=owner, name="Every clip", template=template)

    response = api_client.delete(template_url(template), **bearer(owner))

    post_error(response, "template_in_use", 409)
    assert RenderTemplate.objects.filter(pk=template.pk).exists()


@pytest.mark.parametrize(("method", "data"), [("get", None), ("patch", {"name": "Taken over"}), ("delete", None)])
def test_a_stranger_gets_404_for_someone_elses_template(api_client, bearer, owner, stranger, preset, method, data):
    template = make_template(owner, preset)

    send = getattr(api_client, method)
    url = template_url(template)
    response = send(url, data, format="json", **bearer(stranger)) if data else send(url, **bearer(stranger))

    post_error(response, "not_found", 404)
    template.refresh_from_db()
    assert template.name == "Highlights"


# --- Rendering with a template --------------------------------------------------------------------


@pytest.fixture
def square(db):
    return make_preset(name="Square", slug="square-720", default_props={"aspect": "1:1", "layout": "fit_blur"})


TEMPLATE_PROPS = {"trim_start": 0.5, "trim_end": 2.0, "aspect": "4:5", "layout": "fill", "title": "From the template"}


def test_a_render_with_a_template_uses_its_preset_and_props(post_render, owner, ready_clip, square):
    template = make_template(owner, square, props=TEMPLATE_PROPS)

    response = post_render(template=str(template.pk))

    assert response.status_code == 201, response.content
    assert response.json()["preset"] == square.slug
    job = RenderJob.objects.get(pk=response.json()["id"])
    assert (job.preset, job.clip) == (square, ready_clip)
    assert {name: job.input_props[name] for name in TEMPLATE_PROPS} == TEMPLATE_PROPS


def test_the_props_given_override_the_templates(post_render, owner, square):
    template = make_template(owner, square, props=TEMPLATE_PROPS)

    response = post_render(template=str(template.pk), props={"title": "x", "trim_end": 3.0})

    assert response.status_code == 201, response.content
    stored = RenderJob.objects.get(pk=response.json()["id"]).input_props
    assert (stored["title"], stored["trim_end"]) == ("x", 3.0)
    assert (stored["aspect"], stored["trim_start"]) == ("4:5", 0.5)
    template.refresh_from_db()
    assert template.props == TEMPLATE_PROPS


def test_a_render_with_a_template_fills_its_title_and_keeps_its_trim_within_the_clip(
    post_render, owner, ready_clip, square
):
    Clip.objects.filter(pk=ready_clip.pk).update(title="Ace on Ascent", broadcaster_name="OwnerStreams")
    template = make_template(
        owner, square, props={"trim_end": 60.0, "layout": "fill", "title": "{clip_title} by {broadcaster}"}
    )

    response = post_render(template=str(template.pk))

    assert response.status_code == 201, response.content
    stored = RenderJob.objects.get(pk=response.json()["id"]).input_props
    # The 3-second clip is rendered whole: a template's trim is a most.
    assert (stored["title"], stored["trim_end"]) == ("Ace on Ascent by OwnerStreams", 3.0)


@pytest.mark.parametrize("title", ["{views}", "{clip_title", "{game:d}"])
def test_placeholders_of_the_props_title_are_checked_too(post_template, title):
    post_error(post_template(props={**PROPS, "title": title}, publish=[]), "invalid_placeholder")


def test_a_preset_given_with_a_template_replaces_its_preset(post_render, owner, preset, square):
    template = make_template(owner, square, props=TEMPLATE_PROPS)

    response = post_render(template=str(template.pk), preset=preset.slug)

    assert response.status_code == 201, response.content
    assert response.json()["preset"] == preset.slug


def test_a_strangers_template_looks_unknown(post_render, stranger, preset):
    template = make_template(stranger, preset)

    strangers = post_error(post_render(template=str(template.pk)), "validation_error")
    unknown = post_error(post_render(template=NOWHERE), "validation_error")

    assert set(strangers) == {"template"}
    assert strangers["template"] == [message.replace(NOWHERE, str(template.pk)) for message in unknown["template"]]
    assert not RenderJob.objects.exists()


@pytest.mark.parametrize("template", ["not-a-uuid", 42, True, None])
def test_a_malformed_template_id_is_a_field_error(post_render, template):
    assert set(post_error(post_render(template=template), "validation_error")) == {"template"}


def test_neither_a_preset_nor_a_template_is_a_400(post_render):
    assert set(post_error(post_render(props={"layout": "fill"}), "validation_error")) == {"preset"}


def test_a_template_whose_preset_was_retired_is_a_400(post_render, owner, square):
    template = make_template(owner, square)
    square.is_active = False
    square.save()

    assert set(post_error(post_render(template=str(template.pk)), "validation_error")) == {"template"}
    assert not RenderJob.objects.exists()


def test_layout_auto_before_detection_is_refused_as_a_render_asking_for_auto_is(post_render, owner, ready_clip, preset):
    template = make_template(owner, preset, props=PROPS)
    LayoutSuggestion.objects.create(clip=ready_clip, status=LayoutSuggestion.Status.RUNNING)

    with_template = post_render(template=str(template.pk))
    direct = post_render(preset=preset.slug, props={"layout": "auto"})

    assert post_error(with_template, "layout_not_ready") == post_error(direct, "layout_not_ready")
    assert "layout" in error_details(with_template)["props"]
    assert not RenderJob.objects.exists()


def test_layout_auto_renders_the_detected_layout(post_render, owner, ready_clip, preset):
    template = make_template(owner, preset, props={"layout": "auto", "trim_start": 0, "trim_end": 1})
    LayoutSuggestion.objects.create(
        clip=ready_clip, status=LayoutSuggestion.Status.READY, confidence=0.9, layout="split", focus=None, **SPLIT_RECTS
    )

    response = post_render(template=str(template.pk))

    assert response.status_code == 201, response.content
    stored = RenderJob.objects.get(pk=response.json()["id"]).input_props
    assert (stored["layout"], stored["facecam"]) == ("split", SPLIT_RECTS["facecam"])


# --- Placeholders ---------------------------------------------------------------------------------


def test_fill_placeholders_fills_the_clip_title_game_and_broadcaster():
    values = {"clip_title": "Ace", "game": "Valorant", "broadcaster": "Shroud"}

    assert fill_placeholders("{clip_title} | {game} by {broadcaster}", values) == "Ace | Valorant by Shroud"


def test_fill_placeholders_leaves_missing_values_empty_and_doubled_braces_literal():
    assert fill_placeholders("{clip_title} ({game}) {{live}}", {"clip_title": "Ace"}) == "Ace () {live}"
