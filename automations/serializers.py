from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from automations.models import Automation, AutomationRun
from publishing.models import Publication
from publishing.serializers import PostFieldsSerializer
from renders.models import RenderTemplate
from renders.serializers import ActivePresetField, LayoutSpecRequestField, OwnTemplateField


class TemplatePostSerializer(PostFieldsSerializer):
    """A post the template makes; title and description may hold {clip_title}, {game} and {broadcaster}."""


class TemplateSerializer(serializers.ModelSerializer):
    preset = ActivePresetField(slug_field="slug")
    props = LayoutSpecRequestField(required=False, default=dict, help_text="A layout spec; `layout: auto` allowed.")
    publish = TemplatePostSerializer(many=True, required=False, default=list)

    class Meta:
        model = RenderTemplate
        fields = ["id", "name", "preset", "props", "publish", "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]

    def validate_publish(self, posts: list[dict]) -> list[dict]:
        # A render goes to a platform once (see Publication's constraint): a second target could never post.
        platforms = [post["platform"] for post in posts]
        twice = sorted({platform for platform in platforms if platforms.count(platform) > 1})
        if twice:
            raise serializers.ValidationError(f"One post per platform: {', '.join(twice)} is given more than once.")
        return posts


class AutomationSerializer(serializers.ModelSerializer):
    template = OwnTemplateField()
    games = serializers.ListField(
        child=serializers.RegexField(r"^\d{1,32}$"), required=False, default=list, help_text="Twitch game ids."
    )
    max_per_stream = serializers.IntegerField(min_value=1, max_value=100, required=False, allow_null=True)

    class Meta:
        model = Automation
        fields = [
            "id",
            "name",
            "template",
            "enabled",
            "min_views",
            "games",
            "max_per_stream",
            "publish",
            "active_since",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "active_since", "created_at", "updated_at"]


class RunPublicationSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    platform = serializers.CharField()
    status = serializers.CharField()
    external_url = serializers.CharField()


class AutomationRunSerializer(serializers.ModelSerializer):
    clip_title = serializers.CharField(source="clip.title", read_only=True)
    render_status = serializers.CharField(source="render.status", read_only=True, default=None)
    publications = serializers.SerializerMethodField()

    class Meta:
        model = AutomationRun
        fields = [
            "id",
            "clip",
            "clip_title",
            "stream",
            "step",
            "status",
            "error",
            "render",
            "render_status",
            "publications",
            "created_at",
            "updated_at",
            "finished_at",
        ]
        read_only_fields = fields

    @extend_schema_field(RunPublicationSerializer(many=True))
    def get_publications(self, run: AutomationRun) -> list[dict]:
        known = self.context.get("publications", {})
        return [known[pk] for pk in run.publication_ids if pk in known]

    @staticmethod
    def publications_of(runs: list[AutomationRun]) -> dict[str, dict]:
        """The runs' publications in one query, for the serializer's context."""
        ids = [pk for run in runs for pk in run.publication_ids if pk]
        rows = Publication.objects.filter(pk__in=ids).values("id", "platform", "status", "external_url")
        return {str(row["id"]): {**row, "id": str(row["id"])} for row in rows}
