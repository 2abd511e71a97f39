"""Request ids on every response, and JSON-only errors under the API."""

import logging
import re
import uuid

from django.http import HttpRequest, HttpResponse, JsonResponse

from core.api import error_body
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

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            request.path.startswith(JSON_ONLY_PATH_PREFIXES)
            and response.status_code >= 400
            and not response.get("Content-Type", "").startswith("application/json")
        ):
            json_response = _json_error(response.status_code)
            if "Allow" in response:
                json_response["Allow"] = response["Allow"]
            return json_response
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not request.path.startswith(JSON_ONLY_PATH_PREFIXES):
            return None
        logger.exception("Unhandled error on %s %s", request.method, request.path)
        return _json_error(500)


def _json_error(status: int) -> JsonResponse:
    code, message = STATUS_ERRORS.get(status, ("error", "The request failed."))
    return JsonResponse(error_body(code=code, message=message), status=status)
