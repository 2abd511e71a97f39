from datetime import timedelta

from django.contrib import admin, messages

from automations import eventsub, services
from automations.models import Automation, AutomationRun, EventSubSubscription, Stream
from core.admin import StuckFilter
from core.errors import ServiceError
from renders.models import RenderTemplate

STUCK_AFTER = timedelta(hours=1)


@admin.register(EventSubSubscription)
class EventSubSubscriptionAdmin(admin.ModelAdmin):
    list_display = ("type", "broadcaster_user_id", "user", "status", "revocation_reason", "last_notification_at")
    list_filter = ("status", "type")
    search_fields = ("=broadcaster_user_id", "=twitch_subscription_id", "user__email", "user__clerk_id")
    raw_id_fields = ("user",)
    readonly_fields = [field.name for field in EventSubSubscription._meta.fields]
    actions = ["resync"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Re-sync these users' subscriptions with Twitch")
    def resync(self, request, queryset):
        user_ids = list(queryset.exclude(user=None).values_list("user_id", flat=True).distinct())
        try:
            report = eventsub.eventsub_reconcile(user_ids=user_ids)
        except ServiceError as error:
            self.message_user(request, f"Re-sync failed: {error}", level=messages.ERROR)
            return
        self.message_user(request, f"Re-synced {len(user_ids)} users: {report}.", level=messages.SUCCESS)


@admin.register(Stream)
class StreamAdmin(admin.ModelAdmin):
    list_display = ("broadcaster_user_id", "user", "started_at", "ended_at", "imports_queued")
    search_fields = ("=broadcaster_user_id", "user__email")
    raw_id_fields = ("user",)
    date_hierarchy = "started_at"


@admin.register(RenderTemplate)
class RenderTemplateAdmin(admin.ModelAdmin):
    list_display = ("name", "owner", "preset", "updated_at")
    search_fields = ("name", "owner__email")
    raw_id_fields = ("owner",)


@admin.register(Automation)
class AutomationAdmin(admin.ModelAdmin):
    list_display = ("name", "owner", "template", "enabled", "min_views", "max_per_stream", "publish")
    list_filter = ("enabled", "publish")
    search_fields = ("name", "owner__email", "owner__clerk_id")
    raw_id_fields = ("owner", "template")


class StuckRunFilter(StuckFilter):
    """Running runs whose check is long overdue, or that made no progress for an hour."""

    def stuck(self, queryset):
        return queryset.filter(services.runs_overdue(older_than=STUCK_AFTER))


@admin.register(AutomationRun)
class AutomationRunAdmin(admin.ModelAdmin):
    list_display = ("id", "automation", "clip", "step", "status", "render", "error", "updated_at")
    list_filter = (StuckRunFilter, "status", "step")
    search_fields = ("=id", "=clip__id", "clip__title", "automation__name")
    list_select_related = ("automation", "clip")
    raw_id_fields = ("automation", "clip", "stream", "render")
    readonly_fields = [field.name for field in AutomationRun._meta.fields]
    actions = ["run_now"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Run the next step now")
    def run_now(self, request, queryset):
        queued = services.automation_runs_queue_now(runs=queryset)
        self.message_user(request, f"Queued {queued} of {queryset.count()} (final runs are skipped).")
