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
from core.api import ERROR_RESPONSE, service_errors_as_json
from core.errors import ServiceError, Unavailable

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
@service_errors_as_json
def clerk_webhook(request: HttpRequest) -> JsonResponse:
    """Clerk user events, delivered by Svix. Verified before anything is parsed; idempotent per svix-id."""
    if not settings.CLERK_WEBHOOK_SECRET:
        raise Unavailable("CLERK_WEBHOOK_SECRET is not set on this server.", code="webhook_not_configured")
    headers = {name: request.headers.get(name, "") for name in SVIX_HEADERS}
    if not all(headers.values()):
        raise ServiceError("svix-id, svix-timestamp and svix-signature headers are required.", code="missing_signature")
    try:
        verifier = Webhook(settings.CLERK_WEBHOOK_SECRET)
    except Exception as exc:
        logger.exception("CLERK_WEBHOOK_SECRET is not a valid whsec_ secret")
        raise Unavailable("CLERK_WEBHOOK_SECRET is not a valid signing secret.", code="webhook_misconfigured") from exc
    try:
        verifier.verify(request.body, headers)
    except (WebhookVerificationError, ValueError) as exc:
        raise ServiceError("The signature is invalid or too old.", code="invalid_signature", status=401) from exc
    if len(headers["svix-id"]) > MAX_DELIVERY_ID_LENGTH:
        raise InvalidWebhookPayload("svix-id is too long.")
    try:
        event = json.loads(request.body)
    except ValueError as exc:
        raise InvalidWebhookPayload("The body is not JSON.") from exc
    result = clerk_webhook_apply(delivery_id=headers["svix-id"], event=event)
    return JsonResponse({"status": "duplicate" if result.duplicate else result.outcome})
