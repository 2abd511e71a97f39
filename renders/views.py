import json
import logging

from django.conf import settings
from django.http import FileResponse, HttpRequest, HttpResponseRedirect, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema, extend_schema_view
from remotion_lambda.exception import RemotionException, RemotionInvalidArgumentException
from remotion_lambda.webhook import validate_webhook_signature
from rest_framework import generics, mixins
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.response import Response

from creatorsync.api import ERROR_RESPONSE, ConflictError, TooManyRequests, api_error, error_body
from creatorsync.viewsets import OwnerScopedViewSet
from renders import services
from renders.filters import RenderJobFilter
from renders.models import RenderJob
from renders.selectors import presets_for_user
from renders.serializers import PresetSerializer, RenderCreateSerializer, RenderJobSerializer

logger = logging.getLogger(__name__)


class PresetListView(generics.ListAPIView):
    """The render presets you can use."""

    serializer_class = PresetSerializer
    pagination_class = None
    filter_backends = []

    def get_queryset(self):
        return presets_for_user(user=self.request.user)


@extend_schema_view(
    list=extend_schema(summary="Your render jobs, newest first"),
    retrieve=extend_schema(summary="One render job", responses={200: RenderJobSerializer, 404: ERROR_RESPONSE}),
)
class RenderJobViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, OwnerScopedViewSet):
    queryset = RenderJob.objects.all()
    serializer_class = RenderJobSerializer
    filter_backends = [DjangoFilterBackend]
    filterset_class = RenderJobFilter

    def refine_queryset(self, queryset):
        return queryset.select_related("preset").order_by("-created_at", "id")

    @extend_schema(
        summary="Render a clip (queued)",
        request=RenderCreateSerializer,
        responses={201: RenderJobSerializer, 400: ERROR_RESPONSE, 403: ERROR_RESPONSE, 429: ERROR_RESPONSE},
    )
    def create(self, request):
        params = RenderCreateSerializer(data=request.data, context={"request": request})
        params.is_valid(raise_exception=True)
        try:
            job = services.render_job_create(
                owner=request.user,
                clip=params.validated_data["clip"],
                preset=params.validated_data["preset"],
                input_props=params.validated_data["props"],
            )
        except services.RenderLimitExceeded as exc:
            raise _limit_error(exc) from exc
        return Response(RenderJobSerializer(job).data, status=201)

    @extend_schema(summary="Cancel a queued or rendering job", request=None, responses={200: RenderJobSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        job = self.get_object()
        if not services.render_job_cancel(job=job):
            raise ConflictError(detail=f"A {job.status} job cannot be cancelled.", code="not_cancellable")
        return Response(RenderJobSerializer(job).data)

    @extend_schema(summary="Retry a failed or cancelled job", request=None, responses={200: RenderJobSerializer})
    @action(detail=True, methods=["post"])
    def retry(self, request, pk=None):
        job = self.get_object()
        try:
            retried = services.render_job_retry(job=job)
        except services.RenderLimitExceeded as exc:
            raise _limit_error(exc) from exc
        if not retried:
            raise ConflictError(detail=f"A {job.status} job cannot be retried.", code="not_retryable")
        return Response(RenderJobSerializer(job).data)

    @extend_schema(
        summary="Download the rendered video",
        responses={(200, "video/mp4"): bytes, 302: None, 404: ERROR_RESPONSE, 409: ERROR_RESPONSE},
    )
    @action(detail=True, methods=["get"])
    def download(self, request, pk=None):
        job = self.get_object()
        if job.status != RenderJob.Status.SUCCEEDED:
            raise ConflictError(detail="The render has not succeeded.", code="not_ready")
        if job.output_file and not job.output_file.storage.exists(job.output_file.name):
            raise NotFound("The rendered file is no longer available; retry the render.")
        if job.output_file and settings.STORAGE_BACKEND == "s3":
            return HttpResponseRedirect(job.output_file.storage.url(job.output_file.name, expire=300))
        if job.output_file:
            return FileResponse(job.output_file.open("rb"), as_attachment=True, filename=f"creatorsync-{job.pk}.mp4")
        return HttpResponseRedirect(job.output_url)  # not copied yet: Remotion's own copy


@csrf_exempt
@require_POST
def remotion_webhook(request: HttpRequest) -> JsonResponse:
    """Remotion Lambda's completion callback. Verified over the raw body before parsing; idempotent."""
    if not settings.REMOTION_WEBHOOK_SECRET:
        return _error(503, "webhook_not_configured", "REMOTION_WEBHOOK_SECRET is not set on this server.")
    try:
        validate_webhook_signature(
            settings.REMOTION_WEBHOOK_SECRET, request.body, request.headers.get("X-Remotion-Signature", "")
        )
    except RemotionInvalidArgumentException:
        return _error(400, "invalid_payload", "The body is empty.")
    except RemotionException:
        return _error(401, "invalid_signature", "The signature is missing or invalid.")
    try:
        payload = json.loads(request.body)
    except ValueError:
        return _error(400, "invalid_payload", "The body is not JSON.")
    if not isinstance(payload, dict) or payload.get("type") not in ("success", "error", "timeout"):
        return _error(400, "invalid_payload", "Expected a Remotion webhook with type success, error or timeout.")
    return JsonResponse({"status": services.render_apply_webhook(payload=payload)})


def _limit_error(exc: "services.RenderLimitExceeded") -> Exception:
    exception_class = TooManyRequests if exc.code == "render_limit_reached" else PermissionDenied
    return api_error(exception_class, str(exc), code=exc.code, details=exc.details)


def _error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse(error_body(code=code, message=message), status=status)
