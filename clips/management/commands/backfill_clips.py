import argparse
import uuid
from datetime import UTC, datetime

from django.core.management.base import CommandError
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from tqdm import tqdm

from accounts.models import User
from accounts.selectors import users_with_twitch
from clips import services
from clips.models import ClipImport
from core.commands import ServiceCommand

# Twitch clips exist since 2016; a backfill without --since walks everything.
TWITCH_CLIPS_EPOCH = datetime(2016, 1, 1, tzinfo=UTC)


class Command(ServiceCommand):
    help = (
        "Import Twitch clips for selected users, in-process, with a progress bar. Resumable (a failed or "
        "interrupted import continues where it stopped) and safe to run twice at once (a user's import "
        "running elsewhere is skipped)."
    )

    def add_arguments(self, parser):
        who = parser.add_mutually_exclusive_group(required=True)
        who.add_argument("--user", action="append", help="A user's id, Clerk id or email (repeatable).")
        who.add_argument("--broadcaster", action="append", metavar="LOGIN", help="A Twitch login (repeatable).")
        who.add_argument("--all-users", action="store_true", help="Every active user with a linked Twitch account.")
        parser.add_argument("--since", type=_moment, help="ISO date or datetime (UTC). Default: 2016-01-01.")
        parser.add_argument("--until", type=_moment, help="ISO date or datetime (UTC). Default: now.")
        parser.add_argument("--dry-run", action="store_true", help="List what would be imported; call nothing.")

    def handle(self, *args, user, broadcaster, all_users, since, until, dry_run, **options) -> None:
        until_given = until is not None
        until = until or timezone.now()
        since = since or TWITCH_CLIPS_EPOCH
        if since >= until:
            raise CommandError("--since must be before --until.")
        users = list(_select_users(user, broadcaster))
        if not users:
            raise CommandError("No matching active user with a linked Twitch account.")
        self.stdout.write(
            f"{len(users)} user(s), {since.astimezone(UTC):%Y-%m-%d %H:%M} to "
            f"{until.astimezone(UTC):%Y-%m-%d %H:%M} UTC."
        )
        failures = 0
        for selected in users:
            if dry_run:
                self.stdout.write(f"  would import {selected} (Twitch {selected.twitch_account.login})")
                continue
            failures += not self._backfill(selected, since=since, until=until, until_given=until_given)
        if failures:
            raise CommandError(f"{failures} user(s) failed; run the command again to resume them.")
        self.stdout.write(self.style.SUCCESS("Dry run: nothing imported." if dry_run else "Backfill complete."))

    def _backfill(self, user: User, *, since: datetime, until: datetime, until_given: bool) -> bool:
        clip_import = _resumable_import(user, since=since, until=until, until_given=until_given)
        if clip_import is None:
            try:
                clip_import = services.clip_import_start(user=user, since=since, until=until, enqueue=False)
            except services.ImportAlreadyRunning:
                self.stdout.write(f"  {user}: another import is active; skipped.")
                return True
        # tqdm writes to the raw stream: Django's OutputWrapper would end every refresh with a newline.
        with tqdm(desc=str(user.twitch_account.login or user), unit="page", file=self.stdout._out, leave=True) as bar:

            def show(progress: ClipImport) -> None:
                bar.update(1)
                bar.set_postfix(
                    seen=progress.clips_seen,
                    new=progress.clips_created,
                    updated=progress.clips_updated,
                    at=f"{progress.window_start:%Y-%m-%d}",
                )

            result = services.clip_import_run(clip_import_id=str(clip_import.pk), on_progress=show)
        if result.status == ClipImport.Status.SUCCEEDED:
            return True
        if result.status in ClipImport.ACTIVE_STATUSES:
            self.stdout.write(f"  {user}: an import is running elsewhere; skipped.")
            return True
        self.stderr.write(f"  {user}: failed: {result.error}")
        return False


def _select_users(user_refs: list[str] | None, logins: list[str] | None):
    users = users_with_twitch()
    if user_refs:
        match = Q()
        for ref in user_refs:
            match |= Q(clerk_id=ref) | Q(email__iexact=ref) | (Q(pk=ref) if _is_uuid(ref) else Q())
        users = users.filter(match)
    elif logins:
        match = Q()
        for login in logins:
            match |= Q(twitch_account__login__iexact=login)
        users = users.filter(match)
    return users.order_by("date_joined")


def _resumable_import(user: User, *, since: datetime, until: datetime, until_given: bool) -> ClipImport | None:
    """A failed (or interrupted) import of the same window, to continue rather than restart.

    Without an explicit --until, "the same window" is any window from the same --since: the
    resumed import is then extended to now.
    """
    previous = ClipImport.objects.filter(user=user, since=since).exclude(status=ClipImport.Status.SUCCEEDED)
    if until_given:
        previous = previous.filter(until=until)
    failed = previous.filter(status=ClipImport.Status.FAILED).order_by("-created_at").first()
    if failed and services.clip_import_resume(clip_import=failed, enqueue=False):
        if not until_given and failed.until < until:
            ClipImport.objects.filter(pk=failed.pk).update(until=until)
        failed.refresh_from_db()
        return failed
    return previous.filter(status__in=ClipImport.ACTIVE_STATUSES).first()


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _moment(value: str) -> datetime:
    try:
        moment = parse_datetime(value)
        day = parse_date(value) if moment is None else None
    except ValueError:
        moment = day = None
    if moment is None and day is None:
        raise argparse.ArgumentTypeError(f"{value!r} is not an ISO date (2024-01-31) or datetime")
    moment = moment or datetime(day.year, day.month, day.day)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
