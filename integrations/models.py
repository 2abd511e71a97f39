from django.db import models


class ServiceToken(models.Model):
    """An access token we obtained from a service (e.g. Twitch's app token), shared by every process."""

    service = models.CharField(max_length=40, primary_key=True)
    access_token = models.TextField()
    expires_at = models.DateTimeField()
    validated_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.service} token (expires {self.expires_at:%Y-%m-%d})"
