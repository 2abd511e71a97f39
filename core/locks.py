import hashlib
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection
from django.db.models import QuerySet


@contextmanager
def advisory_lock(name: str) -> Iterator[bool]:
    """Try to hold a PostgreSQL session advisory lock named `name`; yields whether it was acquired.

    Unlike a row lock it needs no open transaction, so long jobs can commit as they go.
    """
    key = int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
        acquired = cursor.fetchone()[0]
    try:
        yield acquired
    finally:
        if acquired:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [key])


def update_rows_nobody_runs(candidates: QuerySet, *, lock_prefix: str, **changes) -> list[str]:
    """Apply `changes` to each candidate whose run lock (`{lock_prefix}:{pk}`) nobody holds: its worker is gone.

    A live run holds that lock for as long as it works, however long. The update re-applies
    `candidates`' own filters, so a row that moved on meanwhile is left alone. Returns the ids changed.
    """
    changed = []
    for pk in candidates.values_list("pk", flat=True):
        with advisory_lock(f"{lock_prefix}:{pk}") as free:
            if free and candidates.filter(pk=pk).update(**changes):
                changed.append(str(pk))
    return changed
