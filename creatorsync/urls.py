from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from accounts import urls as accounts_urls
from automations import urls as automations_urls
from clips import urls as clips_urls
from core.signed_media import signed_media
from creatorsync import views
from publishing import urls as publishing_urls
from renders import urls as renders_urls

admin.site.site_header = "CreatorSync admin"
admin.site.site_title = "CreatorSync admin"
admin.site.index_title = "Clips, users and render jobs"

api_urlpatterns = [
    *accounts_urls.api_urlpatterns,
    *clips_urls.api_urlpatterns,
    *renders_urls.api_urlpatterns,
    *publishing_urls.api_urlpatterns,
    *automations_urls.api_urlpatterns,
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
]

# Webhook URLs keep their trailing slash: APPEND_SLASH would answer a POST without it
# with a redirect, and senders drop the body on redirects.
webhook_urlpatterns = [
    *accounts_urls.webhook_urlpatterns,
    *renders_urls.webhook_urlpatterns,
    *automations_urls.webhook_urlpatterns,
]

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("api/", include(api_urlpatterns)),
    path("webhooks/", include(webhook_urlpatterns)),
    path("signed-media/<str:token>/", signed_media, name="signed-media"),
]

if settings.DEBUG and settings.STORAGE_BACKEND == "local":
    # Local media for `make run`; production serves files from S3 or signed links.
    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
