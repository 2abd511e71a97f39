from core.commands import ServiceCommand
from core.worker import worker_run_supervised


class Command(ServiceCommand):
    help = (
        "Run the queue worker until SIGTERM or Ctrl-C, restarting it whenever it stops by itself "
        "(for example after a database outage). Use this, not `procrastinate worker`, in production."
    )

    def add_arguments(self, parser):
        parser.add_argument("-q", "--queues", help="Comma-separated queues to work on (default: all).")

    def handle(self, *args, queues: str | None, **options) -> None:
        worker_run_supervised(queues=[name for name in (queues or "").split(",") if name])
