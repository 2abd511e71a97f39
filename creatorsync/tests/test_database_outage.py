"""A database that does not answer costs a bounded wait and a 503, never a hang or a 500.

The outage tests run a fresh production process (DJANGO_DEBUG=false) whose DATABASE_URL points
at a port that never answers or refuses, as gunicorn would load the app.
"""

import json
import socket
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection

from creatorsync.settings import database_role
from creatorsync.tests.test_settings import PRODUCTION_ENV, run_python
from integrations.tests.fakes import FRONTEND_ORIGIN, ISSUER

# A fake one, looked for in the logs.
DATABASE_PASSWORD = "outage-test-password"

# Requests made in the fresh process: a warm-up that needs no database (the first request imports
# the views), then the health check and an API call whose sign-in looks the user up.
OUTAGE_PROBE = """
import json, os, time
import django

django.setup()
from django.test import Client

client = Client(raise_request_exception=False)
client.get("/api/no-such-endpoint/", secure=True)
answers = {}
for name, path, headers in [
    ("healthz", "/healthz", {}),
    ("api", "/api/clips/", {"Authorization": "Bearer " + os.environ["OUTAGE_TEST_TOKEN"]}),
]:
    started = time.monotonic()
    response = client.get(path, secure=True, headers=headers)
    answers[name] = {
        "seconds": time.monotonic() - started,
        "status": response.status_code,
        "content_type": response.get("Content-Type", ""),
        "retry_after": response.get("Retry-After"),
        "body": response.content.decode(),
    }
print(json.dumps(answers))
"""


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port whose connections the kernel accepts into the backlog, and nothing ever answers."""
    with socket.create_server(("127.0.0.1", 0), backlog=64) as server:
        yield server.getsockname()[1]


@pytest.fixture
def refusing_port() -> Iterator[int]:
    """A port nobody listens on: bound (so that nothing else takes it) but not listening, it refuses."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def run_during_outage(port: int, signing_key) -> tuple[dict, str]:
    """The probe's answers in a production process whose database is on `port`, and its output."""
    env = {
        **PRODUCTION_ENV,
        "DJANGO_ALLOWED_HOSTS": "testserver",
        "DATABASE_URL": f"postgres://app:{DATABASE_PASSWORD}@127.0.0.1:{port}/creatorsync",
        # A networkless Clerk: the token is verified with this key, then the user is looked up.
        "CLERK_ISSUER": ISSUER,
        "CLERK_JWT_KEY": signing_key.public_pem,
        "CLERK_AUTHORIZED_PARTIES": FRONTEND_ORIGIN,
        "OUTAGE_TEST_TOKEN": signing_key.session_token(sub="user_2outage"),
    }
    result = run_python("-c", OUTAGE_PROBE, env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1]), result.stdout + result.stderr


def assert_api_answers_503(answer: dict) -> None:
    assert answer["status"] == 503, answer
    assert answer["content_type"] == "application/json"
    assert answer["retry_after"] == "5"
    error = json.loads(answer["body"])["error"]
    assert error["code"] == "service_unavailable"
    assert error["message"] == "The database is not answering; try again shortly."


def assert_healthz_answers_503(answer: dict) -> None:
    assert answer["status"] == 503, answer
    assert json.loads(answer["body"]) == {"status": "unavailable", "database": "down"}


def test_a_database_that_never_answers_costs_a_bounded_wait_and_a_503(silent_port, signing_key):
    answers, output = run_during_outage(silent_port, signing_key)
    assert_healthz_answers_503(answers["healthz"])
    assert answers["healthz"]["seconds"] < 3
    # Bounded by the web role's 2 s connect timeout, far below gunicorn's 30 s.
    assert_api_answers_503(answers["api"])
    assert answers["api"]["seconds"] < 5
    assert DATABASE_PASSWORD not in output


def test_a_database_that_refuses_connections_is_a_503_at_once(refusing_port, signing_key):
    answers, output = run_during_outage(refusing_port, signing_key)
    assert_healthz_answers_503(answers["healthz"])
    assert_api_answers_503(answers["api"])
    # Well under the 2 s connect timeout: nothing waited for it.
    assert answers["healthz"]["seconds"] < 1.5
    assert answers["api"]["seconds"] < 1.5
    assert DATABASE_PASSWORD not in output


# --- The time limits of each process role ----------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "role"),
    [
        (["/app/.venv/bin/gunicorn", "creatorsync.wsgi", "--config", "gunicorn.conf.py"], "web"),
        (["manage.py", "runserver"], "web"),
        (["manage.py", "procrastinate", "worker"], "worker"),
        (["manage.py", "queue_worker"], "worker"),
        (["manage.py", "migrate", "--noinput"], "command"),
        (["/app/.venv/bin/django-admin", "shell"], "command"),
    ],
)
def test_the_process_role_comes_from_the_command_line(argv, role):
    assert database_role(argv, testing=False) == role


def test_every_connection_has_a_connect_timeout_and_dead_server_detection():
    options = settings.DATABASES["default"]["OPTIONS"]
    # The test process counts as a command, like `migrate`: a longer connect, no statement timeout.
    assert options["connect_timeout"] == 10
    assert options["options"] == "-c statement_timeout=0"
    assert options["keepalives"] == 1
    assert options["tcp_user_timeout"] == 10_000


# Run in the fresh process: the limits its settings gave the connection, as the server applies them.
SHOW_LIMITS = """
import django

django.setup()
from django.db import connection

with connection.cursor() as cursor:
    cursor.execute("SHOW statement_timeout")
    print(connection.get_connection_params()["connect_timeout"], cursor.fetchone()[0])
"""


def database_url(settings_dict: dict) -> str:
    """A DATABASE_URL for the test database, on a unix socket (the embedded server) or TCP."""
    credentials = quote(settings_dict["USER"], safe="")
    if settings_dict["PASSWORD"]:
        credentials += ":" + quote(settings_dict["PASSWORD"], safe="")
    host, name = settings_dict["HOST"], settings_dict["NAME"]
    if host.startswith("/"):
        return f"postgres://{credentials}@/{name}?host={quote(host)}"
    return f"postgres://{credentials}@{host}:{settings_dict['PORT'] or 5432}/{name}"


@pytest.mark.parametrize(
    ("command", "env", "limits"),
    [
        pytest.param(["-c", SHOW_LIMITS], {}, "2 5s", id="web"),
        pytest.param(["-c", SHOW_LIMITS], {"DB_STATEMENT_TIMEOUT_SECONDS": "7"}, "2 7s", id="web-set"),
        pytest.param(["-c", SHOW_LIMITS], {"DB_CONNECT_TIMEOUT_SECONDS": "4"}, "4 5s", id="web-set-connect"),
        pytest.param(["-c", SHOW_LIMITS, "procrastinate", "worker"], {}, "5 1min", id="worker"),
        pytest.param(["manage.py", "shell", "-c", SHOW_LIMITS], {}, "10 0", id="command"),
    ],
)
def test_each_role_connects_with_its_time_limits(django_db_setup, command, env, limits):
    database = {**PRODUCTION_ENV, "DATABASE_URL": database_url(connection.settings_dict), **env}
    result = run_python(*command, env=database)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == limits
