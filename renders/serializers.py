import re

from django.conf import settings
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from clips.selectors import clips_owned_by
from core.serializers import FastReadSerializer
from renders.models import RenderJob, RenderPreset
from renders.selectors import presets_for_user, templates_owned_by
from renders.specs import LayoutSpecSerializer
from renders.templates import template_render_props

SLUG = re.compile(r"[-a-zA-Z0-9_]{1,100}")


class PresetSerializer(FastReadSerializer):
    class Meta:
        model = RenderPreset
        fields = ["id", "slug", "name", "composition_id", "default_props", "width", "height", "fps", "codec"]
        read_only_fields = fields


@extend_schema_field(LayoutSpecSerializer)
class LayoutSpecRequestField(serializers.DictField):
    """The layout spec as the client sends it; `render_job_create` validates it against the clip."""


@extend_schema_field(LayoutSpecSerializer)
class LayoutSpecField(serializers.JSONField):
    """The layout spec as stored on the job (the captions' words included): the render's input."""


@extend_schema_field(OpenApiTypes.UUID)
class OwnClipField(serializers.PrimaryKeyRelatedField):
    """A clip id, looked up among the requesting user's clips only."""

    def get_queryset(self):
        return clips_owned_by(user=self.context["request"].user)


@extend_schema_field(OpenApiTypes.STR)
class ActivePresetField(serializers.SlugRelatedField):
    def to_internal_value(self, data):
        if not isinstance(data, str) or not SLUG.fullmatch(data):
            self.fail("does_not_exist", slug_name=self.slug_field, value=str(data)[:100])
        return super().to_internal_value(data)

    def get_queryset(self):
        return presets_for_user(user=self.context["request"].user)


@extend_schema_field(OpenApiTypes.UUID)
class OwnTemplateField(serializers.PrimaryKeyRelatedField):
    """A template id, looked up among the requesting user's templates only."""

    def get_queryset(self):
        return templates_owned_by(user=self.context["request"].user)


class RenderCreateSerializer(serializers.Serializer):
    clip = OwnClipField()
    preset = ActivePresetField(slug_field="slug", required=False, help_text="Required unless a template is given.")
    template = OwnTemplateField(
        required=False, help_text="Render with a saved template: its preset and props, which `props` override."
    )
    props = LayoutSpecRequestField(
        required=False,
        default=dict,
        help_text="The layout spec: trim_start, trim_end, aspect, layout, facecam, gameplay, facecam_share, title.",
    )

    def validate(self, attrs):
        template = attrs.get("template")
        if template is None and "preset" not in attrs:
            raise serializers.ValidationError({"preset": ["Give a preset or a template."]})
        if template is not None:
            attrs["props"] = template_render_props(template=template, clip=attrs["clip"], props=attrs["props"])
        if template is not None and "preset" not in attrs:
            if not presets_for_user(user=self.context["request"].user).filter(pk=template.preset_id).exists():
                raise serializers.ValidationError({"template": ["The template's preset is no longer available."]})
            attrs["preset"] = template.preset
        return attrs


class RenderJobSerializer(FastReadSerializer):
    preset = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    input_props = LayoutSpecField(read_only=True)
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
