from django.urls import path

from accounts import views

api_urlpatterns = [
    path("me/", views.MeView.as_view(), name="me"),
]

webhook_urlpatterns = [
    path("clerk/", views.clerk_webhook, name="clerk-webhook"),
]
