"""Request ids on every response, and JSON-only errors under the API."""

import logging
import re
import sys
import uuid

from django.core.signals import got_request_exception
from django.http import HttpRequest, HttpResponse, JsonResponse

from core.api import DATABASE_UNAVAILABLE_ERRORS, database_unavailable_response, error_body
from core.request_context import reset_request_id, set_request_id

logger = logging.getLogger(__name__)

REQUEST_ID_HEADER = "X-Request-ID"
# Incoming ids end up in logs: accept only short, plain tokens.
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

JSON_ONLY_PATH_PREFIXES = ("/api/", "/webhooks/")

STATUS_ERRORS = {
    400: ("bad_request", "The request is malformed."),
    403: ("permission_denied", "You do not have permission to perform this action."),
    404: ("not_found", "No such resource."),
    405: ("method_not_allowed", "This method is not allowed here."),
    500: ("server_error", "Something went wrong on our side. Quote the request id when reporting it."),
    503: ("service_unavailable", "The service is unavailable; try again shortly."),
}


class RequestIdMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        request_id = incoming if _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id
        token = set_request_id(request_id)
        try:
            response = self.get_response(request)
        finally:
            reset_request_id(token)
        response[REQUEST_ID_HEADER] = request_id
        return response


class JsonErrorsMiddleware:
    """Errors under /api/ and /webhooks/ are JSON, whatever raised them.

    DRF's exception handler covers API views; this covers the rest: unknown
    URLs, Django's own error pages and exceptions raised outside DRF.
    """

    def __init__(self, get_response):
        self.get_response = get_response
        got_request_exception.connect(_note_database_outage, dispatch_uid="core.middleware.note_database_outage")

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if not request.path.startswith(JSON_ONLY_PATH_PREFIXES) or response.status_code < 400:
            return response
        outage = getattr(request, _DATABASE_OUTAGE, None)
        if outage is not None and response.status_code == 500:
            return database_unavailable_response(outage)
        if response.get("Content-Type", "").startswith("application/json"):
            return response
        json_response = _json_error(response.status_code)
        if "Allow" in response:
            json_response["Allow"] = response["Allow"]
        return json_response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not request.path.startswith(JSON_ONLY_PATH_PREFIXES):
            return None
        if isinstance(exception, DATABASE_UNAVAILABLE_ERRORS):
            return database_unavailable_response(exception)
        logger.exception("Unhandled error on %s %s", request.method, request.path)
        return _json_error(500)


_DATABASE_OUTAGE = "_database_outage"


def _note_database_outage(sender, request: HttpRequest | None = None, **kwargs) -> None:
    """Remember a database outage raised in a middleware (a session or user lookup) on its request.

    Django turns such an exception into an HTML 500 before JsonErrorsMiddleware sees it; this signal
    fires while it is being handled, so the mark lets the middleware answer the 503 instead.
    """
    exception = sys.exc_info()[1]
    if request is not None and isinstance(exception, DATABASE_UNAVAILABLE_ERRORS):
        setattr(request, _DATABASE_OUTAGE, exception)


def _json_error(status: int) -> JsonResponse:
    code, message = STATUS_ERRORS.get(status, ("error", "The request failed."))
    return JsonResponse(error_body(code=code, message=message), status=status)
