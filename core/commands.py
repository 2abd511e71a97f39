"""The base of every management command: a service's refusal ends it cleanly, never with a traceback."""

from django.core.management.base import BaseCommand, CommandError

from core.errors import ServiceError


class ServiceCommand(BaseCommand):
    """A command whose ServiceErrors become a one-line error and exit status 1 (Django's CommandError)."""

    def execute(self, *args, **options):
        try:
            return super().execute(*args, **options)
        except ServiceError as error:
            raise CommandError(f"{error} ({error.code})") from error
