from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.features import user_features
from accounts.models import TwitchAccount, User


class TwitchAccountSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="twitch_user_id")

    class Meta:
        model = TwitchAccount
        fields = ["id", "login", "display_name"]


class MeSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="clerk_username")
    twitch = serializers.SerializerMethodField()
    features = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = ["id", "clerk_id", "email", "first_name", "last_name", "username", "image_url", "date_joined"]
        fields += ["twitch", "features"]

    def get_twitch(self, user: User) -> TwitchAccountSerializer(allow_null=True):
        account = getattr(user, "twitch_account", None)
        return TwitchAccountSerializer(account).data if account else None

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_features(self, user: User) -> dict:
        """Evaluated feature flags: {key: {enabled, variant, payload}}."""
        return user_features(user).as_dict()
