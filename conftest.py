"""Fixtures shared by every app's tests."""

import pytest
from django.db import connection
from procrastinate.contrib.django import app as queue_app
from rest_framework.test import APIClient


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def owner(django_user_model):
    """The user whose rows a test works with."""
    return django_user_model.objects.create_user(
        username="owner", email="owner@example.com", clerk_id="user_owner000000000000000000"
    )


@pytest.fixture
def stranger(django_user_model):
    """Another user, who must never see or change the owner's rows."""
    return django_user_model.objects.create_user(
        username="stranger", email="stranger@example.com", clerk_id="user_stranger00000000000000"
    )


def _clear_queue() -> None:
    # Queue tables are not Django-managed, so transactional tests' flush leaves them alone.
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE procrastinate_jobs, procrastinate_periodic_defers CASCADE")


@pytest.fixture
def run_queued_jobs(transactional_db):
    """Run every queued job to completion in this process, against the real database.

    Tests that use it need `@pytest.mark.django_db(transaction=True)`: the worker
    only sees committed jobs, and sync tasks run on their own connection.
    """

    def run(queues: list[str] | None = None) -> None:
        # As `manage.py procrastinate worker` does: the worker gets its own psycopg connector.
        with queue_app.replace_connector(queue_app.connector.get_worker_connector()) as worker_app:
            worker_app.run_worker(wait=False, queues=queues, install_signal_handlers=False, listen_notify=False)

    _clear_queue()
    yield run
    _clear_queue()
