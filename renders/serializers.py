import re

from django.conf import settings
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from clips.models import Clip
from creatorsync.api import FastReadSerializer
from renders.layout import ASPECTS, LAYOUTS, TITLE_MAX_LENGTH
from renders.models import RenderJob, RenderPreset

SLUG = re.compile(r"[-a-zA-Z0-9_]{1,100}")


class PresetSerializer(FastReadSerializer):
    class Meta:
        model = RenderPreset
        fields = ["id", "slug", "name", "composition_id", "default_props", "width", "height", "fps", "codec"]
        read_only_fields = fields


class RectSerializer(serializers.Serializer):
    x = serializers.FloatField(min_value=0, max_value=1)
    y = serializers.FloatField(min_value=0, max_value=1)
    width = serializers.FloatField(min_value=0.01, max_value=1)
    height = serializers.FloatField(min_value=0.01, max_value=1)

    def validate(self, rect):
        if rect["x"] + rect["width"] > 1 + 1e-9 or rect["y"] + rect["height"] > 1 + 1e-9:
            raise serializers.ValidationError(
                "The rectangle must lie inside the frame (x + width ≤ 1, y + height ≤ 1)."
            )
        return rect


class LayoutSpecSerializer(serializers.Serializer):
    """The layout spec; `context["clip"]` bounds the trim. See renders/layout.py."""

    trim_start = serializers.FloatField(min_value=0, default=0)
    trim_end = serializers.FloatField(min_value=0, required=False, help_text="Default: the clip's end.")
    aspect = serializers.ChoiceField(choices=list(ASPECTS), default="9:16")
    layout = serializers.ChoiceField(choices=list(LAYOUTS), default="fill")
    facecam = RectSerializer(required=False)
    gameplay = RectSerializer(required=False)
    facecam_share = serializers.FloatField(min_value=0.1, max_value=0.9, default=0.35)
    title = serializers.CharField(max_length=TITLE_MAX_LENGTH, required=False, allow_blank=True, default="")

    def validate(self, spec):
        clip: Clip = self.context["clip"]
        duration = clip.media_duration or clip.duration
        spec.setdefault("trim_end", min(duration, spec["trim_start"] + settings.RENDER_MAX_SECONDS))
        if spec["trim_end"] > duration + 0.05:
            raise serializers.ValidationError({"trim_end": f"The clip is only {duration:.1f} s long."})
        if spec["trim_start"] >= spec["trim_end"]:
            raise serializers.ValidationError({"trim_start": "Must be before trim_end."})
        if spec["trim_end"] - spec["trim_start"] > settings.RENDER_MAX_SECONDS:
            raise serializers.ValidationError({"trim_end": f"A short is at most {settings.RENDER_MAX_SECONDS} s."})
        if spec["layout"] == "split":
            missing = [name for name in ("facecam", "gameplay") if name not in spec]
            if missing:
                raise serializers.ValidationError({name: "Required for the split layout." for name in missing})
        else:
            for name in ("facecam", "gameplay"):
                spec.pop(name, None)
            spec.pop("facecam_share", None)
        if spec["layout"] == "portrait" and not clip.portrait_file:
            raise serializers.ValidationError({"layout": "This clip has no native portrait version."})
        return spec


@extend_schema_field(OpenApiTypes.UUID)
class OwnClipField(serializers.PrimaryKeyRelatedField):
    """A clip id, looked up among the requesting user's clips only."""

    def get_queryset(self):
        return Clip.objects.filter(owner=self.context["request"].user)


@extend_schema_field(OpenApiTypes.STR)
class ActivePresetField(serializers.SlugRelatedField):
    def to_internal_value(self, data):
        if not isinstance(data, str) or not SLUG.fullmatch(data):
            self.fail("does_not_exist", slug_name=self.slug_field, value=str(data)[:100])
        return super().to_internal_value(data)

    def get_queryset(self):
        from renders.selectors import presets_for_user

        return presets_for_user(user=self.context["request"].user)


class RenderCreateSerializer(serializers.Serializer):
    clip = OwnClipField()
    preset = ActivePresetField(slug_field="slug")
    props = serializers.DictField(required=False, default=dict, help_text="The layout spec; see the schema.")

    def validate(self, attrs):
        clip: Clip = attrs["clip"]
        if clip.media_status != Clip.MediaStatus.READY:
            raise serializers.ValidationError({"clip": "The clip's video is not ready: fetch or upload it first."})
        spec = LayoutSpecSerializer(data={**attrs["preset"].default_props, **attrs["props"]}, context={"clip": clip})
        if not spec.is_valid():
            raise serializers.ValidationError({"props": spec.errors})
        attrs["props"] = spec.validated_data
        return attrs


class RenderJobSerializer(FastReadSerializer):
    preset = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = RenderJob
        fields = [
            "id",
            "clip",
            "preset",
            "status",
            "failure_reason",
            "error_message",
            "progress",
            "input_props",
            "backend",
            "created_at",
            "dispatched_at",
            "finished_at",
            "download_url",
        ]
        read_only_fields = fields

    def get_download_url(self, job: RenderJob) -> str | None:
        if job.status != RenderJob.Status.SUCCEEDED or not (job.output_file or job.output_url):
            return None
        return f"{settings.PUBLIC_BASE_URL}{reverse('render-job-download', args=[job.pk])}"
