from datetime import timedelta

from django.contrib import admin

from core.admin import EventLogInline, StuckFilter, run_for_each_row
from publishing import services
from publishing.models import Publication, PublicationEvent

Source = PublicationEvent.Source
# Longer than any step should take between two stored progresses.
STUCK_AFTER = timedelta(minutes=30)


class StuckPublicationFilter(StuckFilter):
    """Active publications that made no progress for a while and wait for nothing known."""

    def stuck(self, queryset):
        return queryset.filter(services.publications_stalled(idle_for=STUCK_AFTER, overdue_by=STUCK_AFTER))


class PublicationEventInline(EventLogInline):
    model = PublicationEvent


@admin.register(Publication)
class PublicationAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "owner",
        "platform",
        "status",
        "waiting_reason",
        "failure_reason",
        "scheduled_at",
        "external_url",
        "created_at",
    )
    list_filter = (StuckPublicationFilter, "status", "platform", "failure_reason", "waiting_reason", "created_at")
    search_fields = ("=id", "=render__id", "external_id", "publish_id", "owner__email", "owner__clerk_id", "title")
    list_select_related = ("owner",)
    raw_id_fields = ("owner", "render")
    date_hierarchy = "created_at"
    inlines = [PublicationEventInline]
    readonly_fields = [field.name for field in Publication._meta.fields]
    actions = ["recheck", "retry"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Re-check now (run the next step)")
    def recheck(self, request, queryset):
        run_for_each_row(
            self,
            request,
            queryset,
            lambda publication: services.publication_recheck(publication=publication, source=Source.ADMIN),
            verb="Queued a re-check of",
            skipped_means="final",
        )

    @admin.action(description="Retry (failed publications; resumes the upload where it can)")
    def retry(self, request, queryset):
        run_for_each_row(
            self,
            request,
            queryset,
            lambda publication: services.publication_retry(publication=publication, source=Source.ADMIN),
            verb="Retried",
            skipped_means="not failed",
        )
