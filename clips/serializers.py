from rest_framework import serializers

from clips.models import HELIX_FIELDS, Clip, ClipImport, LayoutSuggestion, Transcript
from core.serializers import FastReadSerializer


class LayoutSuggestionSerializer(serializers.ModelSerializer):
    class Meta:
        model = LayoutSuggestion
        fields = ["status", "layout", "facecam", "gameplay", "focus", "confidence", "error"]
        read_only_fields = fields


class ClipSerializer(FastReadSerializer):
    media_url = serializers.SerializerMethodField()
    layout_suggestion = serializers.SerializerMethodField()

    class Meta:
        model = Clip
        fields = [
            "id",
            "source",
            "twitch_clip_id",
            *HELIX_FIELDS,
            "media_status",
            "media_error",
            "media_duration",
            "media_width",
            "media_height",
            "media_size",
            "media_url",
            "has_portrait",
            "layout_suggestion",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_layout_suggestion(self, clip: Clip) -> LayoutSuggestionSerializer(allow_null=True):
        """The detected layout, to render with `"layout": "auto"`; null before any detection."""
        suggestion = getattr(clip, "layout_suggestion", None)
        if suggestion is None:
            return None
        # Every field is JSON as stored: no serializer per row on the list's hot path.
        return {name: getattr(suggestion, name) for name in LayoutSuggestionSerializer.Meta.fields}

    def get_media_url(self, clip: Clip) -> str | None:
        if clip.media_status != Clip.MediaStatus.READY or not clip.media_file:
            return None
        return clip.media_file.url


class ClipUploadSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="A video file (MP4, MOV, WebM…).")
    title = serializers.CharField(max_length=300, required=False, allow_blank=True)


class ClipImportSerializer(FastReadSerializer):
    class Meta:
        model = ClipImport
        fields = [
            "id",
            "status",
            "since",
            "until",
            "clips_seen",
            "clips_created",
            "clips_updated",
            "pages_fetched",
            "error",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields


class ClipImportRequestSerializer(serializers.Serializer):
    since = serializers.DateTimeField(required=False, help_text="Default: `until` minus 30 days.")
    until = serializers.DateTimeField(required=False, help_text="Default: now.")

    def validate(self, attrs):
        since, until = attrs.get("since"), attrs.get("until")
        if since and until and since >= until:
            raise serializers.ValidationError({"since": "Must be before `until`."})
        return attrs


class TranscriptWordSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=64, trim_whitespace=False)
    start = serializers.FloatField()
    end = serializers.FloatField()


class TranscriptSerializer(serializers.ModelSerializer):
    words = TranscriptWordSerializer(many=True)

    class Meta:
        model = Transcript
        fields = ["status", "language", "words", "error", "source", "updated_at"]
        read_only_fields = fields


class TranscribeRequestSerializer(serializers.Serializer):
    language = serializers.RegexField(
        r"^[a-z]{2}$", required=False, allow_blank=True, default="", help_text="ISO 639-1; empty: detect."
    )


class TranscriptUpdateSerializer(serializers.Serializer):
    language = serializers.RegexField(r"^[a-z]{2}$", required=False, allow_blank=True, help_text="ISO 639-1.")
    words = serializers.ListField(
        child=serializers.DictField(), max_length=5000, help_text='[{"text", "start", "end"}], seconds from 0.'
    )
