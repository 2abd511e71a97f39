from automations.eventsub import eventsub_reconcile
from core.commands import ServiceCommand


class Command(ServiceCommand):
    help = (
        "Reconcile Twitch's EventSub subscriptions with the linked users: create what is missing, delete "
        "orphans, re-create revoked ones where the reason allows."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="Report what would change; change nothing.")

    def handle(self, *args, dry_run: bool, **options) -> None:
        report = eventsub_reconcile(dry_run=dry_run)
        prefix = "Would have: " if dry_run else ""
        self.stdout.write(f"{prefix}{report}")
        for label, ids in (("created", report.created), ("deleted", report.deleted)):
            for subscription in ids:
                self.stdout.write(f"  {label} {subscription}")
