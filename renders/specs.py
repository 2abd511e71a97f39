"""Validation of the layout spec (a render's props) against the clip it renders.

One place, called by `render_job_create` itself, so every way of creating a job (the API,
the admin, commands, automation) applies the same rules. See renders/layout.py for the spec.
"""

from django.conf import settings
from rest_framework import serializers

from clips.models import Clip
from clips.selectors import layout_suggestion_ready, transcript_words_in_window
from core.errors import ServiceError
from renders.captions import CAPTION_POSITIONS, CAPTION_STYLES, DEFAULT_CAPTIONS
from renders.layout import ASPECTS, AUTO_LAYOUT, LAYOUTS, TITLE_MAX_LENGTH
from renders.models import RenderPreset


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


class CaptionWordSerializer(serializers.Serializer):
    text = serializers.CharField()
    start = serializers.FloatField(help_text="Seconds from the start of the render.")
    end = serializers.FloatField()


class CaptionsSerializer(serializers.Serializer):
    """Burned-in captions from the clip's transcript; the server adds the words of the trimmed window."""

    style = serializers.ChoiceField(choices=list(CAPTION_STYLES), default=DEFAULT_CAPTIONS["style"])
    position = serializers.ChoiceField(choices=list(CAPTION_POSITIONS), default=DEFAULT_CAPTIONS["position"])
    max_words = serializers.IntegerField(min_value=1, max_value=6, default=DEFAULT_CAPTIONS["max_words"])
    uppercase = serializers.BooleanField(default=DEFAULT_CAPTIONS["uppercase"])
    highlight_color = serializers.RegexField(
        r"^#[0-9A-Fa-f]{6}$", default=DEFAULT_CAPTIONS["highlight_color"], help_text="#RRGGBB"
    )
    words = CaptionWordSerializer(
        many=True, read_only=True, help_text="Added by the server: the trimmed window's words, from 0 s."
    )


class PointSerializer(serializers.Serializer):
    x = serializers.FloatField(min_value=0, max_value=1)
    y = serializers.FloatField(min_value=0, max_value=1)


class LayoutSpecSerializer(serializers.Serializer):
    """The layout spec; `context["clip"]` bounds the trim.

    `"layout": "auto"` takes the clip's detected layout (its suggestion's fields, as they are).
    """

    trim_start = serializers.FloatField(min_value=0, default=0)
    trim_end = serializers.FloatField(min_value=0, required=False, help_text="Default: the clip's end.")
    aspect = serializers.ChoiceField(choices=list(ASPECTS), default="9:16")
    layout = serializers.ChoiceField(choices=[*LAYOUTS, AUTO_LAYOUT], default="fill")
    facecam = RectSerializer(required=False, allow_null=True)
    gameplay = RectSerializer(required=False, allow_null=True)
    focus = PointSerializer(
        required=False, allow_null=True, help_text="fill only: the crop centres here (clamped to the frame)."
    )
    facecam_share = serializers.FloatField(min_value=0.1, max_value=0.9, default=0.35)
    title = serializers.CharField(max_length=TITLE_MAX_LENGTH, required=False, allow_blank=True, default="")
    captions = CaptionsSerializer(required=False, allow_null=True, default=None)

    def validate(self, spec):
        clip: Clip | None = self.context["clip"]  # None for a template: each render checks its clip
        if clip is not None:
            duration = clip.seconds
            spec.setdefault("trim_end", min(duration, spec["trim_start"] + settings.RENDER_MAX_SECONDS))
            if spec["trim_end"] > duration + 0.05:
                raise serializers.ValidationError({"trim_end": f"The clip is only {duration:.1f} s long."})
        if "trim_end" in spec:
            if spec["trim_start"] >= spec["trim_end"]:
                raise serializers.ValidationError({"trim_start": "Must be before trim_end."})
            if spec["trim_end"] - spec["trim_start"] > settings.RENDER_MAX_SECONDS:
                raise serializers.ValidationError({"trim_end": f"A short is at most {settings.RENDER_MAX_SECONDS} s."})
        if spec["layout"] != "fill" or spec.get("focus") is None:
            spec.pop("focus", None)
        if spec["layout"] == "split":
            missing = [name for name in ("facecam", "gameplay") if spec.get(name) is None]
            if missing:
                raise serializers.ValidationError({name: "Required for the split layout." for name in missing})
        else:
            for name in ("facecam", "gameplay"):
                spec.pop(name, None)
            spec.pop("facecam_share", None)
        if spec["layout"] == "portrait" and clip is not None and not clip.portrait_file:
            raise serializers.ValidationError({"layout": "This clip has no native portrait version."})
        return spec


class InvalidRenderRequest(ServiceError):
    default_code = "validation_error"


def render_spec_validate(*, clip: Clip, preset: RenderPreset, props: object) -> dict:
    """The clip must be ready and the props (over the preset's defaults) a valid spec for it.

    Returns the normalised spec; raises InvalidRenderRequest with per-field details, in the
    same shape as the API's validation errors.
    """
    if clip.media_status != Clip.MediaStatus.READY:
        raise InvalidRenderRequest(
            "The request has invalid fields.",
            details={"clip": ["The clip's video is not ready: fetch or upload it first."]},
        )
    if not isinstance(props, dict):
        raise InvalidRenderRequest("The request has invalid fields.", details={"props": ["Expected an object."]})
    requested = {**preset.default_props, **props}
    if requested.get("layout") == AUTO_LAYOUT:
        requested = {**requested, **_detected_layout(clip)}
    spec = LayoutSpecSerializer(data=requested, context={"clip": clip})
    if not spec.is_valid():
        raise InvalidRenderRequest("The request has invalid fields.", details={"props": spec.errors})
    validated = dict(spec.validated_data)
    if validated["captions"]:
        validated["captions"] = {**validated["captions"], "words": _caption_words(clip, validated)}
    else:
        del validated["captions"]  # a spec without captions is stored as before they existed
    return validated


def render_template_spec_validate(*, preset: RenderPreset, props: object) -> dict:
    """A template's props: the same spec rules, with what depends on a clip (its length, its detected
    layout, its transcript) left to each render. Returns the props as given; raises like render_spec_validate."""
    if not isinstance(props, dict):
        raise InvalidRenderRequest("The request has invalid fields.", details={"props": ["Expected an object."]})
    requested = {**preset.default_props, **props}
    spec = LayoutSpecSerializer(data=requested, context={"clip": None})
    if not spec.is_valid():
        raise InvalidRenderRequest("The request has invalid fields.", details={"props": spec.errors})
    return props


def _detected_layout(clip: Clip) -> dict:
    suggestion = layout_suggestion_ready(clip=clip)
    if suggestion is None:
        raise InvalidRenderRequest(
            "The clip's layout has not been detected yet: wait for its suggestion, or choose a layout.",
            code="layout_not_ready",
            details={"props": {"layout": ["The clip's layout suggestion is not ready."]}},
        )
    return suggestion


def _caption_words(clip: Clip, spec: dict) -> list[dict]:
    # Copied onto the job: a later edit of the transcript never changes a finished or running render.
    words = transcript_words_in_window(clip=clip, start=spec["trim_start"], end=spec["trim_end"])
    if words is None:
        raise InvalidRenderRequest(
            "Captions need the clip's transcript: ask for one (or type it) and wait until it is ready.",
            code="transcript_not_ready",
            details={"props": {"captions": ["The clip has no ready transcript."]}},
        )
    return words
