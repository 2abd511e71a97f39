from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from accounts.models import User


@admin.register(User)
class CreatorSyncUserAdmin(UserAdmin):
    list_display = ("username", "email", "clerk_id", "is_active", "is_staff", "date_joined")
    search_fields = ("username", "email", "clerk_id", "first_name", "last_name")
    fieldsets = (*UserAdmin.fieldsets, ("Clerk", {"fields": ("clerk_id",)}))
