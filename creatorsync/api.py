"""Shared API plumbing: the error format, pagination and the owner-scoped base viewset.

Every error under /api/ has one shape:

    {"error": {"code": "validation_error", "message": "...", "details": {...}, "request_id": "..."}}

`code` is stable and machine-readable; `message` is for people; `details` carries
per-field messages for validation errors (else it is omitted).
"""

import logging
from datetime import UTC
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db import DataError
from django.http import Http404
from drf_spectacular.utils import OpenApiResponse
from rest_framework import ISO_8601, exceptions, serializers
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler

from creatorsync.request_context import current_request_id

logger = logging.getLogger(__name__)


def error_body(*, code: str, message: str, details: Any = None) -> dict:
    error = {"code": code, "message": message, "request_id": current_request_id()}
    if details is not None:
        error["details"] = details
    return {"error": error}


def exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, DataError):
        # PostgreSQL refused a value the edge let through (a NUL character, an out-of-range number):
        # the client's input, not our failure. Logged so the validation gap gets closed.
        logger.warning("Database refused a request value: %s", exc)
        exc = exceptions.ValidationError(
            {"non_field_errors": ["A value is out of range or contains characters that cannot be stored."]}
        )
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # not an API error: JsonErrorsMiddleware logs it and answers a JSON 500
    if isinstance(exc, exceptions.ValidationError):
        response.data = error_body(
            code="validation_error", message="The request has invalid fields.", details=_as_dict(exc.detail)
        )
    else:
        response.data = error_body(
            code=_first_code(exc), message=_first_message(exc.detail), details=getattr(exc, "error_details", None)
        )
    return response


def api_error(exception_class: type[exceptions.APIException], message: str, *, code: str, details: dict | None = None):
    """An API exception whose `details` keep their JSON types (DRF would turn them into strings)."""
    exc = exception_class(detail=message, code=code)
    exc.error_details = details
    return exc


def _as_dict(detail: Any) -> Any:
    # Non-field validation errors arrive as a bare list.
    return detail if isinstance(detail, dict) else {"non_field_errors": detail}


def _first_code(exc: exceptions.APIException) -> str:
    codes = exc.get_codes()
    while isinstance(codes, (list, dict)):
        codes = next(iter(codes.values() if isinstance(codes, dict) else codes), exc.default_code)
    return str(codes)


def _first_message(detail: Any) -> str:
    while isinstance(detail, (list, dict)):
        if not detail:
            return ""
        detail = next(iter(detail.values() if isinstance(detail, dict) else detail))
    return str(detail)


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    request_id = serializers.CharField()
    details = serializers.DictField(required=False)


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()


ERROR_RESPONSE = OpenApiResponse(ErrorSerializer, description="The shared error shape.")


class BadRequest(exceptions.APIException):
    """A request the service layer refused; raise with a specific `code`."""

    status_code = 400
    default_code = "bad_request"
    default_detail = "The request cannot be done."


class PayloadTooLarge(BadRequest):
    status_code = 413
    default_code = "too_large"


class TooManyRequests(exceptions.APIException):
    """A usage limit (not the request-rate throttle, which answers `throttled`)."""

    status_code = 429
    default_code = "limit_reached"
    default_detail = "A usage limit has been reached."


class ConflictError(exceptions.APIException):
    status_code = 409
    default_code = "conflict"
    default_detail = "The request conflicts with the current state."


class Pagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 100


class FastReadSerializer(serializers.ModelSerializer):
    """A ModelSerializer whose output is built from a per-class plan instead of DRF's per-field machinery.

    The output is the same as DRF's (tests compare them); list endpoints spend most of their
    time serialising, and this cuts that several times over. Only for read-only serializers.
    """

    _plans: dict = {}

    def to_representation(self, instance) -> dict:
        plan = self._plans.get(type(self))
        if plan is None:
            plan = self._plans[type(self)] = [self._plan_field(field) for field in self._readable_fields]
        return {name: convert(instance) for name, convert in plan}

    def _plan_field(self, field: serializers.Field):
        name, attribute = field.field_name, field.source
        if isinstance(field, serializers.SerializerMethodField):
            method = getattr(self, field.method_name)
            return name, method
        if "." in attribute or attribute == "*":
            return name, lambda instance: _drf_value(field, instance)
        if isinstance(field, _PLAIN_FIELDS):
            return name, lambda instance: getattr(instance, attribute)
        if isinstance(field, serializers.UUIDField):
            return name, lambda instance: _optional(getattr(instance, attribute), str)
        if isinstance(field, serializers.DateTimeField) and _iso_8601(field):
            return name, lambda instance: _optional(getattr(instance, attribute), _iso_utc)
        if isinstance(field, serializers.PrimaryKeyRelatedField):
            return name, lambda instance: _optional(getattr(instance, f"{attribute}_id"), str)
        return name, lambda instance: _drf_value(field, instance)


# Fields whose JSON value is the model attribute itself.
_PLAIN_FIELDS = (
    serializers.CharField,
    serializers.IntegerField,
    serializers.FloatField,
    serializers.BooleanField,
    serializers.ChoiceField,
    serializers.JSONField,
)


def _iso_8601(field: serializers.DateTimeField) -> bool:
    return getattr(field, "format", api_settings.DATETIME_FORMAT) == ISO_8601


def _optional(value, convert):
    return None if value is None else convert(value)


def _iso_utc(value) -> str:
    text = value.astimezone(UTC).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _drf_value(field: serializers.Field, instance):
    try:
        attribute = field.get_attribute(instance)
    except serializers.SkipField:
        return None
    return None if attribute is None else field.to_representation(attribute)
