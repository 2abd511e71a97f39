"""The production guard and the deploy checklist, run in fresh processes as production would."""

import base64
import os
import secrets
import subprocess
import sys

import pytest
from django.conf import settings

CLERK_WEBHOOK_SECRET = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()

PRODUCTION_ENV = {
    "DJANGO_DEBUG": "false",
    "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
    "DJANGO_ALLOWED_HOSTS": "api.creatorsync.example",
    "PUBLIC_BASE_URL": "https://api.creatorsync.example",
    "DATABASE_URL": "postgres://app:secret@db.internal:5432/creatorsync",
    "CLERK_ISSUER": "https://clerk.creatorsync.example",
    "CLERK_WEBHOOK_SECRET": CLERK_WEBHOOK_SECRET,
}

# Every integration switched on, as the README's Railway section deploys it.
FULLY_CONFIGURED_ENV = {
    **PRODUCTION_ENV,
    "CORS_ALLOWED_ORIGINS": "https://app.creatorsync.example",
    "CLERK_AUTHORIZED_PARTIES": "https://app.creatorsync.example",
    "CLERK_SECRET_KEY": "sk_live_creatorsync",
    "TWITCH_CLIENT_ID": "twitch-client-id",
    "TWITCH_CLIENT_SECRET": "twitch-client-secret",
    "TWITCH_EVENTSUB_SECRET": "eventsub-secret-of-production",
    "STORAGE_BACKEND": "s3",
    "AWS_STORAGE_BUCKET_NAME": "creatorsync-media",
    "AWS_ACCESS_KEY_ID": "aws-key-id",
    "AWS_SECRET_ACCESS_KEY": "aws-secret",
    "RENDER_BACKEND": "remotion_lambda",
    "REMOTION_REGION": "us-east-1",
    "REMOTION_FUNCTION_NAME": "remotion-render",
    "REMOTION_SERVE_URL": "https://remotion.creatorsync.example/sites/creatorsync/index.html",
    "REMOTION_WEBHOOK_SECRET": "remotion-webhook-secret",
    "POSTHOG_PROJECT_API_KEY": "phc_creatorsync",
    "POSTHOG_SECRET_KEY": "phx_creatorsync",
    # Nothing listens there: flag definitions load in the background and fail quietly, off the network.
    "POSTHOG_HOST": "http://127.0.0.1:9",
}

# The caller's own configuration must not leak into the environments under test.
SETTINGS_PREFIXES = (
    "DJANGO_",
    "DATABASE_URL",
    "CLERK_",
    "TWITCH_",
    "POSTHOG_",
    "AWS_",
    "REMOTION_",
    "STORAGE_",
    "RENDER_",
    "TRANSCRIPTION_",
    "DEEPGRAM_",
)


def run_python(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    clean_env = {key: value for key, value in os.environ.items() if not key.startswith(SETTINGS_PREFIXES)}
    return subprocess.run(
        [sys.executable, *args],
        cwd=settings.BASE_DIR,
        env={**clean_env, "DJANGO_SETTINGS_MODULE": "creatorsync.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def run_manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return run_python("manage.py", *args, env=env)


def import_settings(env: dict[str, str]) -> subprocess.CompletedProcess:
    """The settings module alone: where the production guard lives, without booting the apps."""
    return run_python("-c", "import creatorsync.settings", env=env)


def without(*names: str) -> dict[str, str]:
    return {key: value for key, value in PRODUCTION_ENV.items() if key not in names}


def refusal(result: subprocess.CompletedProcess) -> str:
    """The last line of the traceback: the ImproperlyConfigured message."""
    assert result.returncode != 0, "production started"
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("django.core.exceptions.ImproperlyConfigured: "), result.stderr
    return last_line


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("DJANGO_SECRET_KEY", id="secret-key"),
        pytest.param("DJANGO_ALLOWED_HOSTS", id="allowed-hosts"),
        pytest.param("DATABASE_URL", id="database-url"),  # without it, the embedded database: refused
    ],
)
def test_production_refuses_to_start_without(name):
    result = run_manage("check", env=without(name))
    assert result.returncode != 0
    assert f"{name} must be set" in result.stderr


def test_the_deploy_checklist_is_clean_in_production():
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stderr
    assert "WARNING" not in result.stderr


def test_a_fully_configured_production_starts_with_a_clean_deploy_checklist():
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=FULLY_CONFIGURED_ENV)
    assert result.returncode == 0, result.stderr
    # stderr also carries PostHog's log lines about its unreachable host.
    assert "System check identified no issues" in result.stdout


def test_an_unknown_storage_backend_is_refused():
    result = run_manage("check", env={**PRODUCTION_ENV, "STORAGE_BACKEND": "ftp"})
    assert result.returncode != 0
    assert "STORAGE_BACKEND must be 'local' or 's3'" in result.stderr


# --- Half-configured integrations are refused in production ---------------------------------------


def test_s3_storage_without_its_bucket_is_refused():
    message = refusal(import_settings({**PRODUCTION_ENV, "STORAGE_BACKEND": "s3"}))
    assert "AWS_STORAGE_BUCKET_NAME must be set" in message


@pytest.mark.parametrize(
    ("given", "missing"),
    [("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"), ("AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID")],
)
def test_half_an_aws_key_pair_is_refused(given, missing):
    message = refusal(import_settings({**PRODUCTION_ENV, given: "aws-credential"}))
    assert f"{missing} must be set when {given} is set" in message


@pytest.mark.parametrize(
    ("given", "missing"),
    [("TWITCH_CLIENT_ID", "TWITCH_CLIENT_SECRET"), ("TWITCH_CLIENT_SECRET", "TWITCH_CLIENT_ID")],
)
def test_half_the_twitch_credentials_are_refused(given, missing):
    message = refusal(import_settings({**PRODUCTION_ENV, given: "twitch-credential"}))
    assert f"{missing} must be set when {given} is set" in message


def test_twitch_in_production_needs_the_eventsub_secret():
    twitch = {"TWITCH_CLIENT_ID": "twitch-client-id", "TWITCH_CLIENT_SECRET": "twitch-client-secret"}
    message = refusal(import_settings({**PRODUCTION_ENV, **twitch}))
    assert "TWITCH_EVENTSUB_SECRET must be set when TWITCH_CLIENT_ID is set" in message


@pytest.mark.parametrize("secret", ["too-short", "x" * 101])
def test_an_eventsub_secret_outside_twitchs_length_rule_is_refused(secret):
    message = refusal(import_settings({**PRODUCTION_ENV, "TWITCH_EVENTSUB_SECRET": secret}))
    assert "TWITCH_EVENTSUB_SECRET must be 10 to 100 characters" in message


def test_a_posthog_secret_key_without_the_project_key_is_refused():
    message = refusal(import_settings({**PRODUCTION_ENV, "POSTHOG_SECRET_KEY": "phx_creatorsync"}))
    assert "POSTHOG_PROJECT_API_KEY must be set when POSTHOG_SECRET_KEY is set" in message


def test_a_posthog_project_key_alone_is_enough():
    # Flags are then evaluated remotely: a supported setup, not a half-configured one.
    result = import_settings({**PRODUCTION_ENV, "POSTHOG_PROJECT_API_KEY": "phc_creatorsync"})
    assert result.returncode == 0, result.stderr


def test_production_refuses_to_start_without_the_clerk_webhook_secret():
    message = refusal(import_settings(without("CLERK_WEBHOOK_SECRET")))
    assert "CLERK_WEBHOOK_SECRET must be set" in message


@pytest.mark.parametrize(
    "secret",
    [
        pytest.param(base64.b64encode(b"a signing secret without its prefix").decode(), id="no-whsec-prefix"),
        pytest.param("whsec_", id="nothing-after-the-prefix"),
        pytest.param("whsec_not base64!", id="not-base64"),
        pytest.param(CLERK_WEBHOOK_SECRET + '"', id="a-stray-quote"),
    ],
)
def test_a_clerk_webhook_secret_that_is_not_a_svix_secret_is_refused(secret):
    message = refusal(import_settings({**PRODUCTION_ENV, "CLERK_WEBHOOK_SECRET": secret}))
    assert "CLERK_WEBHOOK_SECRET is not a Svix signing secret" in message


def test_refusing_a_clerk_webhook_secret_does_not_print_it():
    # Deploy logs are not a place for secrets, even broken ones.
    secret = CLERK_WEBHOOK_SECRET + "!"
    result = import_settings({**PRODUCTION_ENV, "CLERK_WEBHOOK_SECRET": secret})
    assert "CLERK_WEBHOOK_SECRET is not a Svix signing secret" in refusal(result)
    assert CLERK_WEBHOOK_SECRET not in result.stderr


def test_half_configured_integrations_are_fine_locally():
    local = {
        "DJANGO_DEBUG": "true",
        # Any URL: importing the settings must not connect to it (nor start the embedded server).
        "DATABASE_URL": "postgres://nobody@127.0.0.1:9/none",
        "TWITCH_CLIENT_ID": "twitch-client-id",
        "POSTHOG_SECRET_KEY": "phx_creatorsync",
        "CLERK_WEBHOOK_SECRET": "not-a-secret",
    }
    result = import_settings(local)
    assert result.returncode == 0, result.stderr
