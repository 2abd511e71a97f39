"""Management commands end a service's refusal with a one-line error, never a traceback."""

import pytest
from django.core.management import CommandError, call_command

from core.commands import ServiceCommand
from core.errors import Conflict


class RefusingCommand(ServiceCommand):
    def handle(self, *args, **options) -> None:
        raise Conflict("Another run holds this import.", code="import_in_progress")


def test_a_service_refusal_becomes_a_command_error_naming_its_code():
    with pytest.raises(CommandError, match=r"^Another run holds this import\. \(import_in_progress\)$"):
        call_command(RefusingCommand())


def test_a_command_error_raised_from_the_shell_exits_with_status_one(capsys):
    with pytest.raises(SystemExit) as exit_info:
        RefusingCommand().run_from_argv(["manage.py", "refusing"])
    assert exit_info.value.code == 1
    assert "Another run holds this import. (import_in_progress)" in capsys.readouterr().err
