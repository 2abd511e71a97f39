"""Admin helpers shared by every app's admin."""

from collections.abc import Callable, Iterable
from typing import Any

from django.contrib import admin, messages
from django.db import models
from django.http import HttpRequest

from core.errors import ServiceError

# URLs typed into the admin default to https (Django 6's default; silences its deprecation warning).
HTTPS_URL_FIELDS = {models.URLField: {"assume_scheme": "https"}}


def run_for_each_row(
    model_admin: admin.ModelAdmin,
    request: HttpRequest,
    rows: Iterable[Any],
    action: Callable[[Any], Any],
    *,
    verb: str,
    skipped_means: str = "not in a state for it",
    skipped_before: int = 0,
) -> int:
    """Apply an admin action row by row, each in its own transaction, and report every outcome.

    A row the service refuses (ServiceError) is named in an error message and the others still
    go through: a selection is never half-applied silently, and never answered with a 500.
    An action returning a falsy value (or a string outcome ending in a refusal) counts as skipped.
    `skipped_before` counts rows the caller filtered out beforehand. Returns how many rows were done.
    """
    done, skipped, refused = 0, skipped_before, 0
    for row in rows:
        try:
            result = action(row)
        except ServiceError as error:
            refused += 1
            model_admin.message_user(request, f"{row}: {error}", level=messages.ERROR)
            continue
        if result:
            done += 1
        else:
            skipped += 1
    summary = f"{verb} {done} of {done + skipped + refused}."
    if skipped:
        summary += f" Skipped {skipped}: {skipped_means}."
    if refused:
        summary += f" Refused {refused}: see above."
    model_admin.message_user(request, summary, level=messages.SUCCESS if done else messages.WARNING)
    return done


class EventLogInline(admin.TabularInline):
    """A row's append-only event log, read-only under it. Subclasses set `model`."""

    extra = 0
    can_delete = False
    fields = ("created_at", "kind", "source", "payload")
    readonly_fields = fields
    ordering = ("created_at", "id")

    def has_add_permission(self, request, obj=None):
        return False


class StuckFilter(admin.SimpleListFilter):
    """The "stuck" filter: the rows staff must look at. Subclasses say which in `stuck`."""

    title = "stuck"
    parameter_name = "stuck"

    def lookups(self, request, model_admin):
        return [("yes", "Stuck")]

    def queryset(self, request, queryset):
        return self.stuck(queryset) if self.value() == "yes" else queryset

    def stuck(self, queryset):
        raise NotImplementedError
