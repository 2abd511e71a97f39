from datetime import timedelta

from django.conf import settings
from django.contrib import admin
from django.db.models import Q
from django.utils import timezone
from django.utils.html import format_html

from core.admin import EventLogInline, StuckFilter, run_for_each_row
from core.signed_media import signed_file_url
from renders import services
from renders.models import RenderEvent, RenderJob, RenderPreset

Source = RenderEvent.Source
POLL_REFUSALS = (services.PollOutcome.NOT_DISPATCHED, services.PollOutcome.POLL_FAILED)


@admin.register(RenderPreset)
class RenderPresetAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "slug",
        "composition_id",
        "width",
        "height",
        "fps",
        "codec",
        "is_active",
        "feature_flag_key",
    )
    list_filter = ("is_active", "codec")
    search_fields = ("name", "slug", "composition_id")
    prepopulated_fields = {"slug": ("name",)}


class StuckRenderFilter(StuckFilter):
    """Non-final jobs older than a render should take."""

    def stuck(self, queryset):
        now = timezone.now()
        expected = timedelta(seconds=settings.RENDER_POLL_AFTER_SECONDS)
        return queryset.filter(status__in=RenderJob.ACTIVE).filter(
            Q(status=RenderJob.Status.QUEUED, created_at__lt=now - expected)
            | Q(status=RenderJob.Status.RENDERING, dispatched_at__lt=now - expected)
            | Q(deadline_at__lt=now)
        )


class RenderEventInline(EventLogInline):
    model = RenderEvent


@admin.register(RenderJob)
class RenderJobAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "owner",
        "clip",
        "preset",
        "backend",
        "status",
        "progress",
        "render_time",
        "failure_reason",
        "created_at",
    )
    list_filter = (StuckRenderFilter, "status", "backend", "failure_reason", "preset", "created_at")
    search_fields = ("=id", "backend_render_id", "owner__email", "owner__clerk_id", "clip__title", "=clip__id")
    list_select_related = ("owner", "clip", "preset")
    raw_id_fields = ("owner", "clip")
    date_hierarchy = "created_at"
    inlines = [RenderEventInline]
    # Every field is read-only, so this order is the change form's: the output is what staff look at first.
    readonly_fields = ["output_player", *(field.name for field in RenderJob._meta.fields), "render_time"]
    actions = ["repoll", "retry", "cancel", "mark_failed"]

    def has_add_permission(self, request):
        return False

    @admin.display(description="Output")
    def output_player(self, job: RenderJob) -> str:
        """The output, playable inline: from our storage once copied there, else from where the backend left it."""
        src = signed_file_url(job.output_file.name) if job.output_file else job.output_url
        if not src:
            return self.get_empty_value_display()
        return format_html(
            '<video controls preload="metadata" src="{}" style="max-width: 360px; max-height: 640px"></video>', src
        )

    @admin.display(description="Render time")
    def render_time(self, job: RenderJob) -> str:
        seconds = job.render_seconds
        return "—" if seconds is None else f"{seconds:.1f} s"

    @admin.action(description="Re-poll the backend now")
    def repoll(self, request, queryset):
        run_for_each_row(
            self,
            request,
            queryset.select_related("preset"),
            lambda job: services.render_poll(job=job, source=Source.ADMIN) not in POLL_REFUSALS,
            verb="Re-polled",
            skipped_means="not dispatched yet, or the backend did not answer",
        )

    @admin.action(description="Retry (failed or cancelled jobs)")
    def retry(self, request, queryset):
        run_for_each_row(
            self, request, queryset, lambda job: services.render_job_retry(job=job, source=Source.ADMIN), verb="Retried"
        )

    @admin.action(description="Cancel")
    def cancel(self, request, queryset):
        run_for_each_row(
            self,
            request,
            queryset,
            lambda job: services.render_job_cancel(job=job, source=Source.ADMIN),
            verb="Cancelled",
        )

    @admin.action(description="Mark failed")
    def mark_failed(self, request, queryset):
        run_for_each_row(
            self,
            request,
            queryset,
            lambda job: services.render_mark_failed(
                job=job,
                source=Source.ADMIN,
                reason=RenderJob.FailureReason.ERROR,
                message=f"Marked failed by {request.user}.",
            ),
            verb="Marked failed",
        )
