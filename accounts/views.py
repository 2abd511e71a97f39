import json
import logging

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from drf_spectacular.utils import extend_schema
from rest_framework.generics import RetrieveAPIView
from svix.webhooks import Webhook, WebhookVerificationError

from accounts.models import User
from accounts.serializers import MeSerializer
from accounts.services import InvalidWebhookPayload, clerk_webhook_apply
from creatorsync.api import ERROR_RESPONSE, error_body

logger = logging.getLogger(__name__)

SVIX_HEADERS = ("svix-id", "svix-timestamp", "svix-signature")
MAX_DELIVERY_ID_LENGTH = 128


class MeView(RetrieveAPIView):
    """The signed-in user's profile, linked Twitch account and feature flags."""

    serializer_class = MeSerializer

    def get_object(self) -> User:
        return User.objects.select_related("twitch_account").get(pk=self.request.user.pk)

    @extend_schema(responses={200: MeSerializer, 401: ERROR_RESPONSE, 503: ERROR_RESPONSE})
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


@csrf_exempt
@require_POST
def clerk_webhook(request: HttpRequest) -> JsonResponse:
    """Clerk user events, delivered by Svix. Verified before anything is parsed; idempotent per svix-id."""
    if not settings.CLERK_WEBHOOK_SECRET:
        return _error(503, "webhook_not_configured", "CLERK_WEBHOOK_SECRET is not set on this server.")
    headers = {name: request.headers.get(name, "") for name in SVIX_HEADERS}
    if not all(headers.values()):
        return _error(400, "missing_signature", "svix-id, svix-timestamp and svix-signature headers are required.")
    try:
        verifier = Webhook(settings.CLERK_WEBHOOK_SECRET)
    except Exception:
        logger.exception("CLERK_WEBHOOK_SECRET is not a valid whsec_ secret")
        return _error(503, "webhook_misconfigured", "CLERK_WEBHOOK_SECRET is not a valid signing secret.")
    try:
        verifier.verify(request.body, headers)
    except (WebhookVerificationError, ValueError):
        return _error(401, "invalid_signature", "The signature is invalid or too old.")
    if len(headers["svix-id"]) > MAX_DELIVERY_ID_LENGTH:
        return _error(400, "invalid_payload", "svix-id is too long.")
    try:
        event = json.loads(request.body)
    except ValueError:
        return _error(400, "invalid_payload", "The body is not JSON.")
    try:
        result = clerk_webhook_apply(delivery_id=headers["svix-id"], event=event)
    except InvalidWebhookPayload as exc:
        return _error(400, "invalid_payload", str(exc))
    return JsonResponse({"status": "duplicate" if result.duplicate else result.outcome})


def _error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse(error_body(code=code, message=message), status=status)
