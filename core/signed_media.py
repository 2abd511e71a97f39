"""Time-limited links to files in storage, for fetchers that cannot authenticate (Remotion Lambda).

On S3 the link is a presigned URL. With local storage it is a signed, expiring link
served by this app under PUBLIC_BASE_URL; a tampered or expired one is refused with 403.
"""

from django.conf import settings
from django.core import signing
from django.core.files.storage import default_storage
from django.db.models.fields.files import FieldFile
from django.http import FileResponse, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.views.decorators.http import require_GET

from core.api import service_errors_as_json
from core.errors import NotFound, ServiceError

SALT = "creatorsync.signed-media"


def signed_file_url(name: str) -> str:
    max_age = settings.SIGNED_MEDIA_MAX_AGE_SECONDS
    if settings.STORAGE_BACKEND == "s3":
        return default_storage.url(name, expire=max_age)
    token = signing.dumps({"name": name}, salt=SALT, compress=True)
    return f"{settings.PUBLIC_BASE_URL}{reverse('signed-media', args=[token])}"


def stored_file_url(file: FieldFile, *, max_age_seconds: int) -> str | None:
    """A URL the client can fetch the file from directly (S3), or None when we must serve it ourselves."""
    if settings.STORAGE_BACKEND == "s3":
        return file.storage.url(file.name, expire=max_age_seconds)
    return None


def file_download_response(file: FieldFile, *, filename: str) -> HttpResponse:
    """Answer a download of a stored file: a short-lived redirect on S3, the bytes themselves locally."""
    if not file.storage.exists(file.name):
        raise NotFound("The file is no longer available.", code="not_found")
    direct_url = stored_file_url(file, max_age_seconds=300)
    if direct_url:
        return HttpResponseRedirect(direct_url)
    return FileResponse(file.open("rb"), as_attachment=True, filename=filename)


@require_GET
@service_errors_as_json
def signed_media(request: HttpRequest, token: str) -> HttpResponse:
    try:
        name = signing.loads(token, salt=SALT, max_age=settings.SIGNED_MEDIA_MAX_AGE_SECONDS)["name"]
    except signing.SignatureExpired as exc:
        raise ServiceError("This link has expired.", code="link_expired", status=403) from exc
    except (signing.BadSignature, KeyError, TypeError) as exc:
        raise ServiceError("This link is not valid.", code="invalid_link", status=403) from exc
    if not default_storage.exists(name):
        raise NotFound("The file no longer exists.")
    return FileResponse(default_storage.open(name, "rb"))
