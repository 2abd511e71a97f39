"""Shared API plumbing: the error format, the exception handler and pagination.

Every error under /api/ and /webhooks/ has one shape:

    {"error": {"code": "validation_error", "message": "...", "details": {...}, "request_id": "..."}}

`code` is stable and machine-readable; `message` is for people; `details` carries
per-field messages for validation errors, or extra context (else it is omitted).
"""

import functools
import logging
from collections.abc import Callable
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db import DataError, InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from drf_spectacular.utils import OpenApiResponse
from rest_framework import exceptions, serializers
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from core.errors import ServiceError
from core.request_context import current_request_id

logger = logging.getLogger(__name__)


def error_body(*, code: str, message: str, details: Any = None) -> dict:
    error = {"code": code, "message": message, "request_id": current_request_id()}
    if details is not None:
        error["details"] = details
    return {"error": error}


def json_error_response(error: ServiceError) -> JsonResponse:
    """The shared error shape for views outside DRF (webhooks, signed links)."""
    return JsonResponse(error_body(code=error.code, message=str(error), details=error.details), status=error.status)


def service_errors_as_json(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Let a plain Django view raise ServiceError and answer the shared error shape."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except ServiceError as error:
            return json_error_response(error)

    return wrapper


# Refused or timed-out connections, a server gone mid-query, a statement cancelled by its timeout:
# the same request may well succeed in a moment, so the client gets a 503 to retry, not a 500.
DATABASE_UNAVAILABLE_ERRORS = (OperationalError, InterfaceError)
DATABASE_RETRY_AFTER_SECONDS = 5


def database_unavailable_response(exc: Exception) -> JsonResponse:
    """The 503 for a database outage, for DRF's exception handler and JsonErrorsMiddleware alike."""
    # The underlying psycopg class names the failure (ConnectionTimeout, QueryCanceled, …);
    # the message is left out because it names the server.
    logger.warning("The database is not answering (%s)", type(exc.__cause__ or exc).__name__)
    response = JsonResponse(
        error_body(code="service_unavailable", message="The database is not answering; try again shortly."),
        status=503,
    )
    response["Retry-After"] = str(DATABASE_RETRY_AFTER_SECONDS)
    return response


def exception_handler(exc: Exception, context: dict) -> Response | JsonResponse | None:
    if isinstance(exc, ServiceError):
        return Response(error_body(code=exc.code, message=str(exc), details=exc.details), status=exc.status)
    if isinstance(exc, DATABASE_UNAVAILABLE_ERRORS):
        return database_unavailable_response(exc)
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
        response.data = error_body(code=_first_code(exc), message=_first_message(exc.detail))
    return response


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


class Pagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 100
