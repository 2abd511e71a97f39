"""The project's URLs plus views that fail on purpose, for the error-format tests."""

from django.db import InterfaceError, OperationalError, connection, transaction
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


# As psycopg words them (through Django's wrapper), server names included: they must not reach the client.
DATABASE_OUTAGES = {
    "connect-timeout": lambda: OperationalError(
        'connection to server at "db.internal" (10.0.0.7), port 5432 failed: timeout expired'
    ),
    "closed": lambda: InterfaceError("connection already closed"),
}


class DatabaseDownView(APIView):
    permission_classes = [AllowAny]

    def get(self, request, outage: str):
        raise DATABASE_OUTAGES[outage]()


def database_down_django_view(request, outage: str):
    raise DATABASE_OUTAGES[outage]()


class SlowQueryView(APIView):
    """A query cut off by the server's statement timeout (psycopg's QueryCanceled)."""

    permission_classes = [AllowAny]

    def get(self, request):
        with transaction.atomic(), connection.cursor() as cursor:
            # Shortened for this transaction only, so that the test does not wait for the real one.
            cursor.execute("SET LOCAL statement_timeout = '50ms'")
            cursor.execute("SELECT pg_sleep(2)")
        return Response({})


class DatabaseDownMiddleware:
    """Fails like a middleware reading the database (a session, the user) during an outage."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        raise DATABASE_OUTAGES["connect-timeout"]()


urlpatterns = [
    path("api/test/validate/", ValidatingView.as_view()),
    path("api/test/crash/", CrashingView.as_view()),
    path("api/test/crash-django/", crashing_django_view),
    path("api/test/database-down/<str:outage>/", DatabaseDownView.as_view()),
    path("api/test/database-down-django/<str:outage>/", database_down_django_view),
    path("api/test/slow-query/", SlowQueryView.as_view()),
    path("api/test/lookup/", NulQueryView.as_view()),
    path("api/test/protected/", WhoAmIView.as_view()),
    *project_urlpatterns,
]
