"""Remotion Lambda through the official `remotion-lambda` SDK (every call is one boto3 `lambda.invoke`)."""

import json
import logging
import os
import threading
import uuid
from dataclasses import dataclass
from enum import StrEnum

from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ReadTimeoutError,
    ResponseStreamingError,
)
from django.conf import settings
from django.urls import reverse
from remotion_lambda import RemotionClient
from remotion_lambda.exception import RemotionException, RemotionInvalidArgumentException
from remotion_lambda.models import RenderMediaParams, Webhook
from remotion_lambda.webhook import validate_webhook_signature

from core.errors import ServiceError, Unavailable
from renders.backends.base import BackendError, Progress, RateLimited, Started, StartOutcomeUnknown
from renders.backends.inputs import render_input_props
from renders.models import RenderJob

logger = logging.getLogger(__name__)

CUSTOM_DATA_MAX_CHARS = 1024
RATE_LIMIT_CODES = {"TooManyRequestsException", "ThrottlingException", "Throttling", "RequestLimitExceeded"}
# Raised once the request was sent: Lambda may have started the render. (botocore's ConnectionError
# family, e.g. ConnectTimeoutError or EndpointConnectionError, means nothing was sent.)
SENT_BUT_UNANSWERED = (ReadTimeoutError, ConnectionClosedError, ResponseStreamingError)


class _ReusingRemotionClient(RemotionClient):
    """The SDK builds a new boto3 client for every call (tens of milliseconds); build it once."""

    def _create_lambda_client(self):
        with self._client_lock:
            if self._lambda_client is None:
                self._lambda_client = super()._create_lambda_client()
            return self._lambda_client

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._client_lock = threading.Lock()
        self._lambda_client = None


_clients: dict[tuple, RemotionClient] = {}
_clients_lock = threading.Lock()


def remotion_client() -> RemotionClient:
    """One SDK client per process and configuration (boto3 clients are thread-safe)."""
    key = (
        settings.REMOTION_REGION,
        settings.REMOTION_SERVE_URL,
        settings.REMOTION_FUNCTION_NAME,
        os.environ.get("AWS_ENDPOINT_URL_LAMBDA"),
        os.environ.get("AWS_ACCESS_KEY_ID"),
    )
    with _clients_lock:
        if key not in _clients:
            _clients[key] = _ReusingRemotionClient(
                region=settings.REMOTION_REGION,
                serve_url=settings.REMOTION_SERVE_URL,
                function_name=settings.REMOTION_FUNCTION_NAME,
                # One attempt: a retried start that had in fact succeeded would start a second render
                # we never hear of. Our own dispatch retries instead, and knows about every render.
                # (`total_max_attempts` counts the first try; botocore's `max_attempts` would allow a retry.)
                config=Config(
                    retries={"total_max_attempts": 1, "mode": "standard"}, connect_timeout=5, read_timeout=30
                ),
            )
        return _clients[key]


def webhook_url() -> str:
    return f"{settings.PUBLIC_BASE_URL}{reverse('remotion-webhook')}"


class RemotionLambdaBackend:
    def start(self, job: RenderJob) -> Started:
        custom_data = {"job": str(job.pk)}
        if len(json.dumps(custom_data)) > CUSTOM_DATA_MAX_CHARS:  # Remotion's limit, checked only by its JS client
            raise BackendError("customData is too large for Remotion.", retryable=False)
        params = RenderMediaParams(
            composition=job.preset.composition_id,
            input_props=render_input_props(job),
            codec=job.preset.codec,
            webhook=Webhook(url=webhook_url(), secret=settings.REMOTION_WEBHOOK_SECRET, customData=custom_data),
        )
        try:
            response = remotion_client().render_media_on_lambda(params)
        except Exception as exc:
            raise _as_dispatch_error(exc, starting=True) from exc
        if response is None:
            raise BackendError("Remotion returned no render id.")
        return Started(render_id=response.render_id, bucket=response.bucket_name)

    def progress(self, job: RenderJob) -> Progress:
        try:
            status = remotion_client().get_render_progress(
                render_id=job.backend_render_id, bucket_name=job.remotion_bucket
            )
        except Exception as exc:
            raise _as_dispatch_error(exc) from exc
        if status is None:
            raise BackendError("Remotion returned no progress.")
        data = vars(status)
        errors = data.get("errors") or []
        return Progress(
            done=bool(data.get("done")),
            progress=float(data.get("overallProgress") or 0),
            fatal=bool(data.get("fatalErrorEncountered")),
            error_message=_error_message(errors),
            output_url=str(data.get("outputFile") or ""),
            cost=(data.get("costs") or {}).get("accruedSoFar") if isinstance(data.get("costs"), dict) else None,
        )


def _as_dispatch_error(exc: Exception, *, starting: bool = False) -> BackendError:
    if starting and isinstance(exc, SENT_BUT_UNANSWERED):
        # Retrying at once could start, and pay for, a second render of the job.
        return StartOutcomeUnknown(f"Lambda did not confirm the start ({type(exc).__name__}).")
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        if code in RATE_LIMIT_CODES:
            return RateLimited(f"Lambda is at capacity ({code}).")
        return BackendError(f"AWS refused the render ({code}).", retryable=code not in {"AccessDeniedException"})
    if isinstance(exc, BotoCoreError):
        return BackendError(f"Could not reach AWS Lambda ({type(exc).__name__}).")
    if isinstance(exc, RemotionException):
        message = str(exc)
        if "Rate Exceeded" in message or "TooManyRequests" in message or "concurrency" in message.lower():
            return RateLimited(f"Remotion is at capacity: {message[:300]}")
        return BackendError(f"Remotion refused the render: {message[:500]}", retryable=False)
    logger.exception("Unexpected error starting a Remotion render")
    return BackendError(f"Unexpected error: {type(exc).__name__}")


def _error_message(errors: object) -> str:
    if isinstance(errors, list) and errors:
        first = errors[0]
        if isinstance(first, dict):
            return str(first.get("message") or first.get("name") or "Remotion reported an error.")[:2000]
    return "Remotion reported an error."


# --- Webhooks -------------------------------------------------------------------------------------


class WebhookKind(StrEnum):
    SUCCESS = "success"
    ERROR = "error"
    TIMEOUT = "timeout"


@dataclass(frozen=True)
class WebhookReport:
    """A verified Remotion webhook, reduced to what the render services act on."""

    kind: WebhookKind
    render_id: str
    job_id: uuid.UUID | None
    bucket: str
    output_url: str
    cost: object
    error_message: str
    payload: dict


def webhook_parse(*, body: bytes, signature: str) -> WebhookReport:
    """Verify Remotion's signature over the raw body, then parse it. Raises ServiceError on refusal."""
    if not settings.REMOTION_WEBHOOK_SECRET:
        raise Unavailable("REMOTION_WEBHOOK_SECRET is not set on this server.", code="webhook_not_configured")
    try:
        validate_webhook_signature(settings.REMOTION_WEBHOOK_SECRET, body, signature)
    except RemotionInvalidArgumentException as exc:
        raise ServiceError("The body is empty.", code="invalid_payload") from exc
    except RemotionException as exc:
        raise ServiceError("The signature is missing or invalid.", code="invalid_signature", status=401) from exc
    try:
        payload = json.loads(body)
    except ValueError as exc:
        raise ServiceError("The body is not JSON.", code="invalid_payload") from exc
    if not isinstance(payload, dict) or payload.get("type") not in set(WebhookKind):
        raise ServiceError("Expected a Remotion webhook with type success, error or timeout.", code="invalid_payload")
    render_id = payload.get("renderId")
    costs = payload.get("costs")
    return WebhookReport(
        kind=WebhookKind(payload["type"]),
        render_id=render_id if isinstance(render_id, str) else "",
        job_id=_job_id(payload.get("customData")),
        bucket=str(payload.get("bucketName") or "")[:100],
        output_url=str(payload.get("outputUrl") or payload.get("outputFile") or ""),
        cost=costs.get("estimatedCost") if isinstance(costs, dict) else None,
        error_message=_error_message(payload.get("errors")) if payload["type"] == WebhookKind.ERROR else "",
        payload=payload,
    )


def _job_id(custom_data: object) -> uuid.UUID | None:
    job_id = custom_data.get("job") if isinstance(custom_data, dict) else None
    try:
        return uuid.UUID(str(job_id))
    except ValueError:
        return None
