"""Running publications to their end, and killing their worker between two steps."""

import contextlib

from publishing import services
from publishing.models import Publication
from publishing.platforms import base


class WorkerKilled(BaseException):
    """A worker dying mid-step: no `except Exception` in the code under test runs for it."""


def kill_worker_at(monkeypatch, step: str, *, times: int = 1) -> list[str]:
    """Make the worker die the first `times` times a publication reaches `step`. Returns the steps reached."""
    reached: list[str] = []
    kills = {"left": times}

    def step_reached(publication, name):
        reached.append(name)
        if name == step and kills["left"]:
            kills["left"] -= 1
            raise WorkerKilled(step)

    monkeypatch.setattr(base, "step_reached", step_reached)
    return reached


def run_until_final(publication: Publication, *, max_runs: int = 12) -> Publication:
    """Run the publication's step job again and again, as the queue would (a killed run's job included),
    time passing between runs, until it is final and has its post id (or runs are exhausted)."""
    for _ in range(max_runs):
        Publication.objects.filter(pk=publication.pk).update(next_attempt_at=None)
        with contextlib.suppress(WorkerKilled):
            services.publication_advance(publication_id=str(publication.pk))
        publication.refresh_from_db()
        if publication.is_final and (publication.external_id or publication.status != Publication.Status.PUBLISHED):
            break
    return publication


def advance(publication: Publication) -> services.AdvanceOutcome:
    """Run the publication's step job now, whatever it waits for (time passing), and reload the row."""
    Publication.objects.filter(pk=publication.pk).update(next_attempt_at=None)
    outcome = services.publication_advance(publication_id=str(publication.pk))
    publication.refresh_from_db()
    return outcome
