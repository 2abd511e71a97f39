import json

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe

from accounts.features import user_features
from accounts.models import TwitchAccount, User, WebhookDelivery
from core.admin import HTTPS_URL_FIELDS

# Clerk owns these for Clerk users; edits here would be overwritten by the next sync.
CLERK_OWNED_FIELDS = (
    "clerk_id",
    "username",
    "email",
    "first_name",
    "last_name",
    "clerk_username",
    "image_url",
    "clerk_updated_at",
    "profile_synced_at",
    "deleted_at",
)


class DeletedInClerkFilter(admin.SimpleListFilter):
    title = "deleted in Clerk"
    parameter_name = "deleted"

    def lookups(self, request, model_admin):
        return [("yes", "Deleted"), ("no", "Not deleted")]

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(deleted_at__isnull=self.value() == "no")
        return queryset


class TwitchAccountInline(admin.StackedInline):
    model = TwitchAccount
    extra = 0
    readonly_fields = ("twitch_user_id", "login", "display_name", "linked_at", "updated_at")
    can_delete = False


@admin.register(User)
class CreatorSyncUserAdmin(UserAdmin):
    list_display = ("__str__", "clerk_id", "email", "twitch_login", "is_active", "deleted_at", "date_joined")
    list_filter = ("is_active", DeletedInClerkFilter, "is_staff", "is_superuser", "date_joined")
    list_select_related = ("twitch_account",)
    search_fields = (
        "clerk_id",
        "email",
        "username",
        "clerk_username",
        "first_name",
        "last_name",
        "twitch_account__login",
    )
    ordering = ("-date_joined",)
    inlines = [TwitchAccountInline]
    formfield_overrides = HTTPS_URL_FIELDS
    fieldsets = (
        *UserAdmin.fieldsets,
        ("Clerk", {"fields": ("clerk_id", "clerk_username", "image_url", "clerk_updated_at", "profile_synced_at")}),
        ("Deletion", {"fields": ("deleted_at",)}),
        ("Feature flags", {"fields": ("feature_flags",)}),
    )

    def get_readonly_fields(self, request, obj=None):
        readonly = (*super().get_readonly_fields(request, obj), "feature_flags")
        if obj is not None and obj.clerk_id:
            return (*readonly, *CLERK_OWNED_FIELDS)
        return (*readonly, "clerk_updated_at", "profile_synced_at", "deleted_at")

    @admin.display(description="Feature flags they get now")
    def feature_flags(self, user: User) -> str:
        flags = user_features(user).as_dict()
        if not flags:
            return "No flags in use."
        return format_html_join(
            mark_safe("<br>"),
            "<code>{}</code>: {}{}",
            (
                (
                    key,
                    "on" if flag["enabled"] else "off",
                    f" — payload {json.dumps(flag['payload'])}" if flag["payload"] else "",
                )
                for key, flag in flags.items()
            ),
        )

    @admin.display(description="Twitch", ordering="twitch_account__login")
    def twitch_login(self, user: User) -> str:
        account = getattr(user, "twitch_account", None)
        return account.login if account else ""


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ("received_at", "source", "event_type", "outcome", "delivery_id")
    list_filter = ("source", "event_type", "outcome", "received_at")
    search_fields = ("delivery_id", "payload__data__id")
    date_hierarchy = "received_at"
    readonly_fields = [field.name for field in WebhookDelivery._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
