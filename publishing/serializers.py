from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.serializers import FastReadSerializer
from publishing.models import Publication
from renders.selectors import renders_owned_by


@extend_schema_field(OpenApiTypes.UUID)
class OwnRenderField(serializers.PrimaryKeyRelatedField):
    """A render id, looked up among the requesting user's renders only."""

    def get_queryset(self):
        return renders_owned_by(user=self.context["request"].user)


class PostFieldsSerializer(serializers.Serializer):
    """One post's settings; the platform's own rules are checked by `post_settings_validate`."""

    platform = serializers.ChoiceField(choices=Publication.Platform.choices)
    title = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=2200, help_text="Default: the clip's title."
    )
    description = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000)
    privacy = serializers.CharField(
        required=False,
        default="public",
        max_length=30,
        help_text="YouTube: public, unlisted or private. TikTok: public, private or one of TikTok's own levels "
        "(PUBLIC_TO_EVERYONE, MUTUAL_FOLLOW_FRIENDS, FOLLOWER_OF_CREATOR, SELF_ONLY) that the account allows.",
    )


class PublicationCreateSerializer(PostFieldsSerializer):
    render = OwnRenderField()
    scheduled_at = serializers.DateTimeField(
        required=False, allow_null=True, default=None, help_text="When the post goes live (at most 6 months ahead)."
    )


class PublicationSerializer(FastReadSerializer):
    class Meta:
        model = Publication
        fields = [
            "id",
            "render",
            "platform",
            "title",
            "description",
            "privacy",
            "scheduled_at",
            "status",
            "failure_reason",
            "error_message",
            "waiting_reason",
            "next_attempt_at",
            "upload_size",
            "bytes_sent",
            "account_name",
            "external_id",
            "external_url",
            "created_at",
            "uploaded_at",
            "published_at",
            "finished_at",
        ]
        read_only_fields = fields


class PublishTargetSerializer(serializers.Serializer):
    platform = serializers.ChoiceField(choices=Publication.Platform.choices)
    connected = serializers.BooleanField()
    account = serializers.CharField(allow_null=True)
    missing_scopes = serializers.ListField(child=serializers.CharField())
    privacy_options = serializers.ListField(
        child=serializers.CharField(), help_text="The privacy levels this account may post with."
    )
