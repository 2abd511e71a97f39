from datetime import UTC

import django_filters
from django import forms

from clips.models import Clip


class UTCDateTimeField(forms.DateTimeField):
    """An ISO 8601 datetime, converted to UTC here: PostgreSQL refuses offsets beyond ±15:59."""

    def to_python(self, value):
        parsed = super().to_python(value)
        if parsed is None:
            return None
        try:
            return parsed.astimezone(UTC)
        except (OverflowError, ValueError) as exc:
            raise forms.ValidationError("Enter a date and time between years 1 and 9999.", code="invalid") from exc


class UTCDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UTCDateTimeField


class StableOrderingFilter(django_filters.OrderingFilter):
    """Ordering with the id as tie-breaker, so pages never repeat or skip rows."""

    def filter(self, queryset, value):
        queryset = super().filter(queryset, value)
        return queryset.order_by(*queryset.query.order_by, "id") if value else queryset


class MinViewsFilter(django_filters.NumberFilter):
    field_class = forms.IntegerField


class ClipFilter(django_filters.FilterSet):
    created_after = UTCDateTimeFilter(field_name="clip_created_at", lookup_expr="gte")
    created_before = UTCDateTimeFilter(field_name="clip_created_at", lookup_expr="lt")
    game = django_filters.CharFilter(field_name="game_id")
    min_views = MinViewsFilter(field_name="view_count", lookup_expr="gte", min_value=0, max_value=2**31 - 1)
    featured = django_filters.BooleanFilter(field_name="is_featured")
    media_status = django_filters.ChoiceFilter(choices=Clip.MediaStatus.choices)
    source = django_filters.ChoiceFilter(choices=Clip.Source.choices)
    ordering = StableOrderingFilter(
        fields=(("clip_created_at", "created"), ("view_count", "views"), ("duration", "duration")),
        help_text="created, views or duration; prefix with - for descending.",
    )

    class Meta:
        model = Clip
        fields = []
