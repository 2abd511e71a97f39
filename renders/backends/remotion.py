"""Remotion Lambda through the official `remotion-lambda` SDK (every call is one boto3 `lambda.invoke`)."""

import json
import logging
import os
import threading

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.urls import reverse
from remotion_lambda import RemotionClient
from remotion_lambda.exception import RemotionException
from remotion_lambda.models import RenderMediaParams, Webhook

from renders.backends import DispatchError, Progress, RateLimited, Started
from renders.inputs import render_input_props
from renders.models import RenderJob

logger = logging.getLogger(__name__)

CUSTOM_DATA_MAX_CHARS = 1024
RATE_LIMIT_CODES = {"TooManyRequestsException", "ThrottlingException", "Throttling", "RequestLimitExceeded"}


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
            raise DispatchError("customData is too large for Remotion.", retryable=False)
        params = RenderMediaParams(
            composition=job.preset.composition_id,
            input_props=render_input_props(job),
            codec=job.preset.codec,
            webhook=Webhook(url=webhook_url(), secret=settings.REMOTION_WEBHOOK_SECRET, customData=custom_data),
        )
        try:
            response = remotion_client().render_media_on_lambda(params)
        except Exception as exc:
            raise _as_dispatch_error(exc) from exc
        if response is None:
            raise DispatchError("Remotion returned no render id.")
        return Started(render_id=response.render_id, bucket=response.bucket_name)

    def progress(self, job: RenderJob) -> Progress:
        try:
            status = remotion_client().get_render_progress(
                render_id=job.remotion_render_id, bucket_name=job.remotion_bucket
            )
        except Exception as exc:
            raise _as_dispatch_error(exc) from exc
        if status is None:
            raise DispatchError("Remotion returned no progress.")
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


def _as_dispatch_error(exc: Exception) -> DispatchError:
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        if code in RATE_LIMIT_CODES:
            return RateLimited(f"Lambda is at capacity ({code}).")
        return DispatchError(f"AWS refused the render ({code}).", retryable=code not in {"AccessDeniedException"})
    if isinstance(exc, BotoCoreError):
        return DispatchError(f"Could not reach AWS Lambda ({type(exc).__name__}).")
    if isinstance(exc, RemotionException):
        message = str(exc)
        if "Rate Exceeded" in message or "TooManyRequests" in message or "concurrency" in message.lower():
            return RateLimited(f"Remotion is at capacity: {message[:300]}")
        return DispatchError(f"Remotion refused the render: {message[:500]}", retryable=False)
    logger.exception("Unexpected error starting a Remotion render")
    return DispatchError(f"Unexpected error: {type(exc).__name__}")


def _error_message(errors) -> str:
    if isinstance(errors, list) and errors:
        first = errors[0]
        if isinstance(first, dict):
            return str(first.get("message") or first.get("name") or "Remotion reported an error.")[:2000]
    return "Remotion reported a fatal error."
