"""Read-only serializers built for list endpoints."""

from collections.abc import Callable
from datetime import UTC
from typing import Any

from rest_framework import ISO_8601, serializers
from rest_framework.settings import api_settings

# A plan step turns (the serializer rendering now, a model instance) into one output value.
Convert = Callable[[serializers.Serializer, Any], Any]
_PLAN_ATTRIBUTE = "_fast_read_plan"


class FastReadSerializer(serializers.ModelSerializer):
    """A ModelSerializer whose output is built from a per-class plan instead of DRF's per-field machinery.

    The output is the same as DRF's (tests compare them); list endpoints spend most of their
    time serialising, and this cuts that several times over. Only for read-only serializers
    whose fields depend on the class alone, not on the context.

    The plan is built once per class but outlives every request, so it holds only names and
    plain functions: anything bound to a serializer (its `get_*` methods, its field objects,
    and through them its context and request) is looked up on the serializer rendering now.
    """

    def to_representation(self, instance) -> dict:
        # The class's own __dict__, so a subclass never runs its parent's plan.
        plan = type(self).__dict__.get(_PLAN_ATTRIBUTE)
        if plan is None:
            plan = [(field.field_name, _plan_field(field)) for field in self._readable_fields]
            setattr(type(self), _PLAN_ATTRIBUTE, plan)
        return {name: convert(self, instance) for name, convert in plan}


def _plan_field(field: serializers.Field) -> Convert:
    name, attribute = field.field_name, field.source
    if isinstance(field, serializers.SerializerMethodField):
        return _call_method(field.method_name)
    if "." in attribute or attribute == "*":
        return _drf_value(name)
    if isinstance(field, _PLAIN_FIELDS):
        return lambda serializer, instance: getattr(instance, attribute)
    if isinstance(field, serializers.UUIDField):
        return lambda serializer, instance: _optional(getattr(instance, attribute), str)
    if isinstance(field, serializers.DateTimeField) and _iso_8601(field):
        return lambda serializer, instance: _optional(getattr(instance, attribute), _iso_utc)
    if isinstance(field, serializers.PrimaryKeyRelatedField):
        return lambda serializer, instance: _optional(getattr(instance, f"{attribute}_id"), str)
    return _drf_value(name)


# Fields whose JSON value is the model attribute itself.
_PLAIN_FIELDS = (
    serializers.CharField,
    serializers.IntegerField,
    serializers.FloatField,
    serializers.BooleanField,
    serializers.ChoiceField,
    serializers.JSONField,
)


def _call_method(method_name: str) -> Convert:
    return lambda serializer, instance: getattr(serializer, method_name)(instance)


def _drf_value(field_name: str) -> Convert:
    """Render with DRF's own field: the current serializer's, which reads the current context."""

    def convert(serializer: serializers.Serializer, instance):
        field = serializer.fields[field_name]
        try:
            attribute = field.get_attribute(instance)
        except serializers.SkipField:
            return None
        return None if attribute is None else field.to_representation(attribute)

    return convert


def _iso_8601(field: serializers.DateTimeField) -> bool:
    return getattr(field, "format", api_settings.DATETIME_FORMAT) == ISO_8601


def _optional(value, convert):
    return None if value is None else convert(value)


def _iso_utc(value) -> str:
    text = value.astimezone(UTC).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text
