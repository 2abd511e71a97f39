"""FastReadSerializer must render exactly what DRF's own machinery renders."""

import gc
import json
import weakref
from decimal import Decimal

import pytest
from django.http import HttpRequest
from django.test import RequestFactory
from django.utils import timezone
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer

from clips.models import Clip, ClipImport
from clips.serializers import ClipImportSerializer, ClipSerializer
from clips.tests.factories import make_clip
from core.serializers import FastReadSerializer
from renders.models import RenderJob, RenderPreset
from renders.serializers import PresetSerializer, RenderJobSerializer

pytestmark = pytest.mark.django_db


def both_ways(serializer_class, instance) -> tuple[dict, dict]:
    serializer = serializer_class(instance)
    fast = serializer.to_representation(instance)
    drf = serializers.ModelSerializer.to_representation(serializer, instance)
    render = JSONRenderer().render
    return json.loads(render(fast)), json.loads(render(drf))


def test_a_clip_renders_the_same(owner):
    clip = make_clip(owner, vod_offset=None, media_width=1920, media_height=1080)
    fast, drf = both_ways(ClipSerializer, clip)
    assert fast == drf
    assert fast["clip_created_at"].endswith("Z")


def test_a_clip_import_renders_the_same(owner):
    now = timezone.now()
    clip_import = ClipImport.objects.create(user=owner, since=now.replace(year=2020), until=now, started_at=now)
    assert both_ways(ClipImportSerializer, clip_import)[0] == both_ways(ClipImportSerializer, clip_import)[1]


def test_a_render_job_and_its_preset_render_the_same(owner):
    preset = RenderPreset.objects.create(name="P", slug="p", composition_id="C", default_props={"aspect": "1:1"})
    job = RenderJob.objects.create(
        owner=owner,
        clip=make_clip(owner),
        preset=preset,
        input_props={"trim_start": 0, "trim_end": 3.5, "layout": "fill"},
        backend="local",
        deadline_at=timezone.now(),
        cost=Decimal("0.012300"),
        status=RenderJob.Status.FAILED,
        failure_reason=RenderJob.FailureReason.ERROR,
    )
    job.refresh_from_db()
    fast, drf = both_ways(RenderJobSerializer, job)
    assert fast == drf
    assert fast["preset"] == "p"
    fast, drf = both_ways(PresetSerializer, preset)
    assert fast == drf


# --- Each serialization uses its own serializer ----------------------------------------------------


def viewer_serializer_class() -> type[FastReadSerializer]:
    """A new class each call, so the instance under test is the one that builds the class's plan."""

    class ClipViewerSerializer(FastReadSerializer):
        viewer = serializers.SerializerMethodField()
        owner_name = serializers.CharField(source="owner.username")

        class Meta:
            model = Clip
            fields = ["id", "title", "viewer", "owner_name", "media_file"]
            read_only_fields = fields

        def get_viewer(self, clip: Clip) -> str:
            return self.context["request"].user.username

    return ClipViewerSerializer


def request_by(user, *, secure: bool = False) -> HttpRequest:
    request = RequestFactory().get("/api/clips/", secure=secure)
    request.user = user
    return request


def test_each_serialization_sees_its_own_request(owner, stranger):
    serializer_class = viewer_serializer_class()
    clip = make_clip(owner)
    first = serializer_class(clip, context={"request": request_by(owner)}).data
    second = serializer_class(clip, context={"request": request_by(stranger)}).data
    assert first["viewer"] == "owner"
    assert second["viewer"] == "stranger"
    assert first["owner_name"] == second["owner_name"] == "owner"


def test_a_field_rendered_by_drf_sees_its_own_request(owner):
    # DRF's FileField builds absolute URLs from the request in the serializer's context.
    serializer_class = viewer_serializer_class()
    clip = make_clip(owner, media_file="clips/a.mp4")
    plain = serializer_class(clip, context={"request": request_by(owner)}).data
    secure = serializer_class(clip, context={"request": request_by(owner, secure=True)}).data
    assert plain["media_file"] == "http://testserver/media/clips/a.mp4"
    assert secure["media_file"] == "https://testserver/media/clips/a.mp4"


def test_a_list_serialization_sees_its_own_request(owner, stranger):
    serializer_class = viewer_serializer_class()
    clips = [make_clip(owner), make_clip(owner)]
    rows = serializer_class(clips, many=True, context={"request": request_by(owner)}).data
    assert [row["viewer"] for row in rows] == ["owner", "owner"]
    rows = serializer_class(clips, many=True, context={"request": request_by(stranger)}).data
    assert [row["viewer"] for row in rows] == ["stranger", "stranger"]


def test_the_first_serializer_and_its_request_are_freed_after_use(owner, stranger):
    serializer_class = viewer_serializer_class()
    clip = make_clip(owner)
    request = request_by(owner)
    serializer = serializer_class(clip, context={"request": request})
    assert serializer.data["viewer"] == "owner"
    freed_serializer, freed_request = weakref.ref(serializer), weakref.ref(request)
    del serializer, request
    gc.collect()
    assert freed_serializer() is None
    assert freed_request() is None
    # The class's plan outlives them and still serves later requests.
    assert serializer_class(clip, context={"request": request_by(stranger)}).data["viewer"] == "stranger"
