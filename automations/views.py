import logging

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework.decorators import action

from automations import services
from automations.eventsub import eventsub_message_apply
from automations.models import Automation
from automations.serializers import AutomationRunSerializer, AutomationSerializer, TemplateSerializer
from core.api import ERROR_RESPONSE, service_errors_as_json
from core.errors import ServiceError, Unavailable
from core.viewsets import OwnerScopedCrudViewSet
from integrations.twitch.eventsub import (
    VERIFICATION,
    EventSubSignatureError,
    parse_eventsub_message,
    verify_eventsub_request,
)
from renders.models import RenderTemplate

logger = logging.getLogger(__name__)
WRITE_ERRORS = {400: ERROR_RESPONSE, 404: ERROR_RESPONSE, 409: ERROR_RESPONSE}


@extend_schema_view(
    list=extend_schema(summary="Your render templates"),
    retrieve=extend_schema(summary="One template", responses={200: TemplateSerializer, 404: ERROR_RESPONSE}),
    create=extend_schema(summary="Save a template", responses={201: TemplateSerializer, **WRITE_ERRORS}),
    partial_update=extend_schema(summary="Change a template", responses={200: TemplateSerializer, **WRITE_ERRORS}),
    destroy=extend_schema(
        summary="Delete a template (not while automations use it)", responses={204: None, 409: ERROR_RESPONSE}
    ),
)
class TemplateViewSet(OwnerScopedCrudViewSet):
    queryset = RenderTemplate.objects.all()
    serializer_class = TemplateSerializer

    def refine_queryset(self, queryset):
        return queryset.select_related("preset").order_by("name", "id")

    def perform_create(self, serializer):
        serializer.instance = services.template_save(owner=self.request.user, **serializer.validated_data)

    def perform_update(self, serializer):
        template = serializer.instance
        fields = {
            "name": template.name,
            "preset": template.preset,
            "props": template.props,
            "publish": template.publish,
            **serializer.validated_data,
        }
        serializer.instance = services.template_save(owner=self.request.user, template=template, **fields)

    def perform_destroy(self, instance):
        services.template_delete(template=instance)


@extend_schema_view(
    list=extend_schema(summary="Your automations"),
    retrieve=extend_schema(summary="One automation", responses={200: AutomationSerializer, 404: ERROR_RESPONSE}),
    create=extend_schema(summary="Create an automation", responses={201: AutomationSerializer, **WRITE_ERRORS}),
    partial_update=extend_schema(summary="Change an automation", responses={200: AutomationSerializer, **WRITE_ERRORS}),
    destroy=extend_schema(summary="Delete an automation and its history", responses={204: None, 404: ERROR_RESPONSE}),
)
class AutomationViewSet(OwnerScopedCrudViewSet):
    queryset = Automation.objects.all()
    serializer_class = AutomationSerializer

    def refine_queryset(self, queryset):
        return queryset.order_by("-created_at", "id")

    def perform_create(self, serializer):
        serializer.instance = services.automation_save(owner=self.request.user, **serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = services.automation_save(
            owner=self.request.user, automation=serializer.instance, **serializer.validated_data
        )

    @extend_schema(
        summary="What the automation did with each clip", responses={200: AutomationRunSerializer(many=True)}
    )
    @action(detail=True, methods=["get"])
    def runs(self, request, pk=None):
        automation = self.get_object()
        page = self.paginate_queryset(services.automation_runs_of(automation=automation))
        context = {"publications": AutomationRunSerializer.publications_of(page)}
        return self.get_paginated_response(AutomationRunSerializer(page, many=True, context=context).data)


@csrf_exempt
@require_POST
@service_errors_as_json
def twitch_eventsub_webhook(request: HttpRequest) -> HttpResponse:
    """Twitch EventSub's webhook: verified over the raw body before anything is parsed; idempotent."""
    if not settings.TWITCH_EVENTSUB_SECRET:
        raise Unavailable("Stream notifications are not configured.", code="not_configured")
    try:
        verify_eventsub_request(headers=request.headers, body=request.body, secret=settings.TWITCH_EVENTSUB_SECRET)
    except EventSubSignatureError as exc:
        raise ServiceError("The message is not from Twitch, or too old.", code=exc.code, status=403) from exc
    try:
        message = parse_eventsub_message(headers=request.headers, body=request.body)
    except ValueError as exc:
        raise ServiceError(f"Not an EventSub message: {exc}", code="invalid_message") from exc
    outcome = eventsub_message_apply(message=message)
    logger.info("EventSub %s %s: %s", message.message_type, message.message_id, outcome)
    if message.message_type == VERIFICATION:
        return HttpResponse(message.challenge, content_type="text/plain", status=200)
    return HttpResponse(status=204)
