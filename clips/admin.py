from datetime import timedelta

from django.contrib import admin
from django.db.models import Max, Min
from django.utils.html import format_html

from accounts.selectors import users_by_ids
from clips import layouts, services, transcripts
from clips.models import Clip, ClipImport, LayoutSuggestion, Transcript
from core.admin import HTTPS_URL_FIELDS, run_for_each_row
from core.signed_media import signed_file_url


class TranscriptInline(admin.StackedInline):
    model = Transcript
    extra = 0
    can_delete = False
    fields = ("status", "provider", "language", "word_count", "source", "error", "requested_at", "finished_at")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    @admin.display(description="Words")
    def word_count(self, transcript: Transcript) -> int:
        return len(transcript.words)


class LayoutSuggestionInline(admin.StackedInline):
    model = LayoutSuggestion
    extra = 0
    can_delete = False
    fields = ("frame", "status", "layout", "confidence", "facecam", "gameplay", "focus", "error", "seconds")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    @admin.display(description="Frame (facecam yellow, gameplay cyan)")
    def frame(self, suggestion: LayoutSuggestion) -> str:
        if not suggestion.still:
            return "—"
        return format_html('<img src="{}" width="480" alt="detected layout">', signed_file_url(suggestion.still.name))


@admin.register(Clip)
class ClipAdmin(admin.ModelAdmin):
    list_display = ("title", "owner", "source", "view_count", "duration", "clip_created_at", "media_status")
    list_filter = ("source", "media_status", "is_featured", "has_portrait", "clip_created_at", "game_id")
    search_fields = ("title", "creator_name", "broadcaster_name", "twitch_clip_id", "owner__email", "owner__clerk_id")
    list_select_related = ("owner",)
    raw_id_fields = ("owner",)
    date_hierarchy = "clip_created_at"
    ordering = ("-clip_created_at",)
    readonly_fields = (
        "id",
        "created_at",
        "updated_at",
        "media_duration",
        "media_width",
        "media_height",
        "media_size",
        "has_portrait",
    )
    actions = ["refetch_media", "reimport", "retranscribe", "redetect_layout"]
    inlines = [LayoutSuggestionInline, TranscriptInline]
    formfield_overrides = HTTPS_URL_FIELDS

    @admin.action(description="Re-fetch media from Twitch")
    def refetch_media(self, request, queryset):
        clips = queryset.filter(source=Clip.Source.TWITCH).exclude(media_status=Clip.MediaStatus.DOWNLOADING)
        run_for_each_row(
            self,
            request,
            clips,
            lambda clip: services.clip_media_fetch_request(clip=clip),
            verb="Queued the media download of",
            skipped_before=queryset.count() - clips.count(),
            skipped_means="uploads and running downloads",
        )

    @admin.action(description="Re-run layout detection")
    def redetect_layout(self, request, queryset):
        run_for_each_row(
            self,
            request,
            queryset,
            lambda clip: layouts.layout_detection_request(clip=clip),
            verb="Queued the layout detection of",
        )

    @admin.action(description="Re-run speech recognition")
    def retranscribe(self, request, queryset):
        run_for_each_row(
            self,
            request,
            queryset.select_related("owner"),
            lambda clip: transcripts.transcript_request(clip=clip),
            verb="Queued the recognition of",
        )

    @admin.action(description="Re-import these clips' metadata from Twitch")
    def reimport(self, request, queryset):
        windows = {
            row["owner"]: (row["first"], row["last"] + timedelta(seconds=1))
            for row in queryset.filter(source=Clip.Source.TWITCH)
            .order_by()  # the changelist's ordering would otherwise split the groups
            .values("owner")
            .annotate(first=Min("clip_created_at"), last=Max("clip_created_at"))
        }
        run_for_each_row(
            self,
            request,
            users_by_ids(ids=windows),
            lambda owner: services.clip_import_start(
                user=owner, since=windows[owner.pk][0], until=windows[owner.pk][1]
            ),
            verb="Queued an import for",
        )


@admin.register(ClipImport)
class ClipImportAdmin(admin.ModelAdmin):
    list_display = ("created_at", "user", "status", "since", "until", "clips_seen", "clips_created", "error")
    list_filter = ("status", "created_at")
    search_fields = ("user__email", "user__clerk_id", "id")
    list_select_related = ("user",)
    raw_id_fields = ("user",)
    readonly_fields = [field.name for field in ClipImport._meta.fields]
    actions = ["resume"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Resume failed imports from where they stopped")
    def resume(self, request, queryset):
        run_for_each_row(
            self,
            request,
            queryset,
            lambda clip_import: services.clip_import_resume(clip_import=clip_import),
            verb="Resumed",
            skipped_means="not failed, or another import of the user is running",
        )
