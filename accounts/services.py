import secrets

from accounts.models import User


def local_superuser_ensure(*, username: str = "admin") -> str | None:
    """Create the first local superuser with a random password.

    Returns the password, to be shown once, or None when a superuser already exists.
    """
    if User.objects.filter(is_superuser=True).exists():
        return None
    password = secrets.token_urlsafe(12)
    User.objects.create_superuser(username=username, email="", password=password)
    return password
