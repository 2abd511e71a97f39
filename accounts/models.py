import uuid

from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    """A CreatorSync user. Frontend users come from Clerk (`clerk_id`); staff may exist without one."""

    # Public ids in URLs are UUIDs, never guessable sequential integers.
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    clerk_id = models.CharField(max_length=64, unique=True, null=True, blank=True, help_text="Clerk user id (user_…)")

    def __str__(self) -> str:
        return self.email or self.username
