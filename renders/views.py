import logging

from django.http import HttpRequest, HttpResponseRedirect, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import generics, mixins
from rest_framework.decorators import action
from rest_framework.response import Response

from core.api import ERROR_RESPONSE, service_errors_as_json
from core.errors import Conflict
from core.signed_media import file_download_response
from core.viewsets import OwnerScopedViewSet
from renders import services
from renders.backends.remotion import webhook_parse
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
        job = services.render_job_create(
            owner=request.user,
            clip=params.validated_data["clip"],
            preset=params.validated_data["preset"],
            input_props=params.validated_data["props"],
        )
        return Response(RenderJobSerializer(job).data, status=201)

    @extend_schema(summary="Cancel a queued or rendering job", request=None, responses={200: RenderJobSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        job = self.get_object()
        if not services.render_job_cancel(job=job):
            raise Conflict(f"A {job.status} job cannot be cancelled.", code="not_cancellable")
        return Response(RenderJobSerializer(job).data)

    @extend_schema(summary="Retry a failed or cancelled job", request=None, responses={200: RenderJobSerializer})
    @action(detail=True, methods=["post"])
    def retry(self, request, pk=None):
        job = self.get_object()
        if not services.render_job_retry(job=job):
            raise Conflict(f"A {job.status} job cannot be retried.", code="not_retryable")
        return Response(RenderJobSerializer(job).data)

    @extend_schema(
        summary="Download the rendered video",
        responses={(200, "video/mp4"): bytes, 302: None, 404: ERROR_RESPONSE, 409: ERROR_RESPONSE},
    )
    @action(detail=True, methods=["get"])
    def download(self, request, pk=None):
        job = self.get_object()
        if job.status != RenderJob.Status.SUCCEEDED:
            raise Conflict("The render has not succeeded.", code="not_ready")
        if job.output_file:
            return file_download_response(job.output_file, filename=f"creatorsync-{job.pk}.mp4")
        return HttpResponseRedirect(job.output_url)  # not copied yet: Remotion's own copy


@csrf_exempt
@require_POST
@service_errors_as_json
def remotion_webhook(request: HttpRequest) -> JsonResponse:
    """Remotion Lambda's completion callback. Verified over the raw body before parsing; idempotent."""
    report = webhook_parse(body=request.body, signature=request.headers.get("X-Remotion-Signature", ""))
    return JsonResponse({"status": services.render_apply_webhook(report=report)})
