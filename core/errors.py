"""The one exception type business logic raises when it refuses an operation.

Views, admin actions and commands never translate it by hand: the API's exception
handler, `json_error_response`, the admin's per-row runner and `command_error`
all read the same four attributes.
"""

from typing import Any


class ServiceError(Exception):
    """A service refused an operation.

    `code` is stable and machine-readable, the message is for people, `status` is the HTTP
    status an API answers with, and `details` (JSON) is extra machine-readable context.
    """

    status: int = 400
    default_code: str = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None, details: Any = None):
        super().__init__(message)
        self.code = code or self.default_code
        if status is not None:
            self.status = status
        self.details = details


class NotFound(ServiceError):
    status = 404
    default_code = "not_found"


class Conflict(ServiceError):
    """The request conflicts with the current state of a row (try again later, or not at all)."""

    status = 409
    default_code = "conflict"


class Unavailable(ServiceError):
    """A dependency we need is not configured or not answering: not the caller's fault."""

    status = 503
    default_code = "service_unavailable"
