"""`make run`: migrate, then serve the web app and the queue worker until Ctrl-C."""

import contextlib
import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from accounts.services import local_superuser_ensure

STOP_TIMEOUT_SECONDS = 25


class Command(BaseCommand):
    help = "Run the web server and the queue worker together (the embedded PostgreSQL unless DATABASE_URL is set)."

    def add_arguments(self, parser):
        parser.add_argument("--addrport", default="127.0.0.1:8000")

    def handle(self, *args, addrport: str, **options) -> None:
        # This process holds the embedded PostgreSQL open: it stops when this command exits.
        call_command("migrate", interactive=False, verbosity=0)
        password = local_superuser_ensure()

        children = [
            self._spawn("runserver", addrport),
            self._spawn("queue_worker"),
        ]
        self._print_banner(addrport, password)

        stopping = []
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stopping.append(True))
        while not stopping and all(child.poll() is None for child in children):
            time.sleep(0.2)
        self._stop(children)

    @staticmethod
    def _spawn(*command: str) -> subprocess.Popen:
        # Each child leads its own process group, so runserver's autoreloader
        # child is stopped with it.
        return subprocess.Popen([sys.executable, "manage.py", *command], cwd=settings.BASE_DIR, process_group=0)

    def _stop(self, children: list[subprocess.Popen]) -> None:
        self.stdout.write("\nStopping the web server, the worker and the embedded database...")
        for child in children:
            _signal_group(child, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        for child in children:
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(child, signal.SIGKILL)
                child.wait()

    def _print_banner(self, addrport: str, password: str | None) -> None:
        base = f"http://{addrport}"
        lines = [
            "",
            "CreatorSync is running. Ctrl-C stops everything.",
            f"  API docs:  {base}/api/docs/",
            f"  Admin:     {base}/admin/",
            f"  Health:    {base}/healthz",
        ]
        if password:
            lines.append(f"  Admin login (shown once): admin / {password}")
        else:
            lines.append("  Admin login: your existing superuser (reset with `python manage.py changepassword admin`)")
        self.stdout.write(self.style.SUCCESS("\n".join(lines)))


def _signal_group(child: subprocess.Popen, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(child.pid, signum)
