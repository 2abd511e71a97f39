"""FastReadSerializer must render exactly what DRF's own machinery renders."""

import json
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer

from clips.models import ClipImport
from clips.serializers import ClipImportSerializer, ClipSerializer
from clips.tests.factories import make_clip
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
