"""Plain helpers shared by every app's tests (fixtures live in the root conftest.py)."""

from django.contrib.messages import get_messages


def error_code(response) -> str:
    """The `code` of an API error answer (core.api's one error shape)."""
    return response.json()["error"]["code"]


def error_details(response) -> dict:
    """The `details` of an API error answer."""
    return response.json()["error"]["details"]


def run_action(staff_client, changelist_url: str, action: str, rows) -> list[str]:
    """Post an admin action for these rows on their changelist; return the messages shown to staff."""
    return [text for _, text in run_action_with_levels(staff_client, changelist_url, action, rows)]


def run_action_with_levels(staff_client, changelist_url: str, action: str, rows) -> list[tuple[int, str]]:
    """As run_action, but return the (level, text) of each message: django.contrib.messages levels."""
    response = staff_client.post(changelist_url, {"action": action, "_selected_action": [str(row.pk) for row in rows]})
    assert response.status_code == 302
    return [(message.level, str(message)) for message in get_messages(response.wsgi_request)]


def event_names(events) -> list[str]:
    """The names of (name, distinct_id, properties) analytics events, in order."""
    return [name for name, _, _ in events]
