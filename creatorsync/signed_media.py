"""Time-limited links to files in storage, for fetchers that cannot authenticate (Remotion Lambda).

On S3 the link is a presigned URL. With local storage it is a signed, expiring link
served by this app under PUBLIC_BASE_URL; a tampered or expired one is refused with 403.
"""

from django.conf import settings
from django.core import signing
from django.core.files.storage import default_storage
from django.http import FileResponse, HttpRequest, JsonResponse
from django.urls import reverse
from django.views.decorators.http import require_GET

from creatorsync.api import error_body

SALT = "creatorsync.signed-media"


def signed_file_url(name: str) -> str:
    max_age = settings.SIGNED_MEDIA_MAX_AGE_SECONDS
    if settings.STORAGE_BACKEND == "s3":
        return default_storage.url(name, expire=max_age)
    token = signing.dumps({"name": name}, salt=SALT, compress=True)
    return f"{settings.PUBLIC_BASE_URL}{reverse('signed-media', args=[token])}"


@require_GET
def signed_media(request: HttpRequest, token: str):
    try:
        name = signing.loads(token, salt=SALT, max_age=settings.SIGNED_MEDIA_MAX_AGE_SECONDS)["name"]
    except signing.SignatureExpired:
        return JsonResponse(error_body(code="link_expired", message="This link has expired."), status=403)
    except (signing.BadSignature, KeyError, TypeError):
        return JsonResponse(error_body(code="invalid_link", message="This link is not valid."), status=403)
    if not default_storage.exists(name):
        return JsonResponse(error_body(code="not_found", message="The file no longer exists."), status=404)
    return FileResponse(default_storage.open(name, "rb"))
