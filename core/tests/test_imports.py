"""Every module of the project imports on its own, in a fresh interpreter, as a worker or a command would.

An import that only works because something else happened to be imported first (a cycle
hidden by import order, a model used before its app is ready) fails here instead of in
production. The settings must not touch the database at import time: the URL below points
at a closed port, which also keeps the embedded PostgreSQL from starting.
"""

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings

PACKAGES = ("core", "integrations", "accounts", "clips", "renders", "creatorsync")
SKIPPED_FOLDERS = {"tests", "migrations"}
ENV = {
    "DJANGO_SETTINGS_MODULE": "creatorsync.settings",
    "DJANGO_DEBUG": "true",
    "DATABASE_URL": "postgres://nobody@127.0.0.1:9/none",
}
WORKERS = 4
TIMEOUT_SECONDS = 60


def project_modules() -> list[str]:
    """Dotted names of the project's modules, leaving out packages that have modules of their own.

    Importing a module imports its packages first, in the same fresh state, so they are covered.
    """
    modules, packages_with_modules = set(), set()
    for package in PACKAGES:
        for path in (settings.BASE_DIR / package).rglob("*.py"):
            parts = path.relative_to(settings.BASE_DIR).with_suffix("").parts
            if SKIPPED_FOLDERS & set(parts):
                continue
            if parts[-1] == "__init__":
                modules.add(".".join(parts[:-1]))
            else:
                modules.add(".".join(parts))
                packages_with_modules.update(".".join(parts[:end]) for end in range(1, len(parts)))
    return sorted(modules - packages_with_modules)


def run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=settings.BASE_DIR,
        env={**os.environ, **ENV},
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
    )


SETUP_PROBE = """
import django, json, sys
django.setup()
from django.db import connection
try:
    connection.ensure_connection()
    reachable = True
except Exception:
    reachable = False
print(json.dumps({"modules": sorted(sys.modules), "database_reachable": reachable}))
"""


def setup_probe() -> dict:
    result = run_python(SETUP_PROBE)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def import_failure(module: str) -> str | None:
    result = run_python(f"import django; django.setup(); import {module}")
    if result.returncode == 0:
        return None
    return "\n".join(result.stderr.strip().splitlines()[-5:])


def test_the_project_modules_are_all_found():
    modules = project_modules()
    assert {"core.serializers", "integrations.twitch.client", "creatorsync.urls", "creatorsync.wsgi"} <= set(modules)
    assert not [module for module in modules if ".tests" in module or ".migrations" in module]
    assert "manage" not in modules


def test_every_module_imports_on_its_own_in_a_fresh_interpreter():
    probe = setup_probe()
    # Otherwise an import that queries the database would pass unnoticed.
    assert not probe["database_reachable"]
    # For what django.setup() imports itself, `setup(); import it` would prove no more than setup() did.
    loaded = set(probe["modules"])
    assert "creatorsync.settings" in loaded
    modules = [module for module in project_modules() if module not in loaded]
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        failures = dict(zip(modules, pool.map(import_failure, modules), strict=True))
    failed = {module: error for module, error in failures.items() if error}
    assert not failed, "\n\n".join(f"{module}:\n{error}" for module, error in failed.items())
