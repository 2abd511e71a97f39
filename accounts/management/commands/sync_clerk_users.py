import argparse
from collections import Counter

from django.core.management.base import CommandError

from accounts.services import InvalidWebhookPayload, clerk_user_upsert
from core.commands import ServiceCommand
from integrations.clerk import backend_api


class Command(ServiceCommand):
    help = "Upsert every Clerk user from the Clerk Backend API. Idempotent; waits and retries when rate limited."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Report what would change, write nothing.")
        parser.add_argument("--page-size", type=_page_size, default=100, help="Users per request, 1 to 500.")

    def handle(self, *args, dry_run: bool, page_size: int, **options) -> None:
        if not backend_api.is_configured():
            raise CommandError("CLERK_SECRET_KEY is not set: the Clerk Backend API needs it.")
        totals: Counter[str] = Counter()
        try:
            for page_number, page in enumerate(backend_api.iter_users(page_size=page_size), start=1):
                for clerk_user in page:
                    try:
                        totals[clerk_user_upsert(data=clerk_user, dry_run=dry_run, source="sync")] += 1
                    except InvalidWebhookPayload:
                        totals["invalid"] += 1
                self.stdout.write(f"page {page_number}: {sum(totals.values())} users seen ({_summary(totals)})")
        except backend_api.ClerkAPIError as exc:
            raise CommandError(f"Stopped: {exc}. Users seen so far are saved; run the command again.") from exc
        prefix = "Dry run, nothing written" if dry_run else "Done"
        self.stdout.write(self.style.SUCCESS(f"{prefix}: {sum(totals.values())} users ({_summary(totals)})."))


def _summary(totals: Counter) -> str:
    return ", ".join(f"{count} {outcome}" for outcome, count in sorted(totals.items())) or "none"


def _page_size(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= 500:
        raise argparse.ArgumentTypeError("must be a whole number from 1 to 500")
    return int(value)
