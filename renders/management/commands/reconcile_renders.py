from core.commands import ServiceCommand
from renders.services import renders_reconcile


class Command(ServiceCommand):
    help = "Poll silent renders, re-queue dead dispatches, time out overdue jobs (also runs every minute)."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Show what would be done; change nothing.")

    def handle(self, *args, dry_run: bool, **options) -> None:
        report = renders_reconcile(dry_run=dry_run)
        actions = (
            ("poll", report.polled),
            ("re-queue", report.requeued),
            ("time out", report.timed_out),
            ("fail (two unconfirmed starts)", report.unconfirmed),
        )
        for label, job_ids in actions:
            for job_id in job_ids:
                self.stdout.write(f"{'would ' if dry_run else ''}{label} {job_id}")
        self.stdout.write(self.style.SUCCESS(("Dry run: " if dry_run else "") + str(report)))
