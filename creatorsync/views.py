import logging

import psycopg
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

logger = logging.getLogger(__name__)

# libpq's smallest effective connect timeout; with the query's own bound the check ends within 3 s.
HEALTH_CONNECT_TIMEOUT_SECONDS = 2
HEALTH_QUERY_TIMEOUT_MS = 500


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """200 when the database answers, 503 when it does not: for load balancers and Railway."""
    try:
        _check_database()
    except psycopg.Error as exc:
        # The class names the failure (ConnectionTimeout, …); the message would name the server.
        logger.warning("Health check failed: the database does not answer (%s)", type(exc).__name__)
        return JsonResponse({"status": "unavailable", "database": "down"}, status=503)
    return JsonResponse({"status": "ok"})


def _check_database() -> None:
    """SELECT 1 on a fresh, short-lived connection with its own tight time limits.

    Not Django's connection: its limits are the web role's, which may be set longer than a health
    check may take, and a reused connection to a server that vanished waits for TCP to give up.
    """
    params = connection.get_connection_params()
    # Django's adapters and cursor class are of no use to a bare SELECT 1.
    params.pop("cursor_factory", None)
    params.pop("context", None)
    params["connect_timeout"] = HEALTH_CONNECT_TIMEOUT_SECONDS
    params["tcp_user_timeout"] = HEALTH_QUERY_TIMEOUT_MS
    params["options"] = f"{params.get('options', '')} -c statement_timeout={HEALTH_QUERY_TIMEOUT_MS}".strip()
    with psycopg.connect(autocommit=True, **params) as probe:
        probe.execute("SELECT 1")
