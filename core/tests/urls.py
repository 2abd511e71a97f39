"""The project's URLs plus views that fail on purpose, for the error-format tests."""

from django.urls import path
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from creatorsync.urls import urlpatterns as project_urlpatterns


class _Payload(serializers.Serializer):
    title = serializers.CharField(max_length=10)
    count = serializers.IntegerField(min_value=1)


class ValidatingView(APIView):
    permission_classes = [AllowAny]

    def post(self, request):
        _Payload(data=request.data).is_valid(raise_exception=True)
        return Response({})


class CrashingView(APIView):
    permission_classes = [AllowAny]

    def get(self, request):
        raise RuntimeError("a bug")


class WhoAmIView(APIView):
    def get(self, request):
        return Response({"username": request.user.username})


class NulQueryView(APIView):
    permission_classes = [AllowAny]

    def get(self, request):
        from accounts.models import User

        return Response({"exists": User.objects.filter(username=request.GET.get("name", "")).exists()})


def crashing_django_view(request):
    raise RuntimeError("a bug outside DRF")


urlpatterns = [
    path("api/test/validate/", ValidatingView.as_view()),
    path("api/test/crash/", CrashingView.as_view()),
    path("api/test/crash-django/", crashing_django_view),
    path("api/test/lookup/", NulQueryView.as_view()),
    path("api/test/protected/", WhoAmIView.as_view()),
    *project_urlpatterns,
]
