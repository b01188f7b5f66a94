"""Fixtures of the scheduler tests.

``app`` is overridden here: a database of its own (the processes tests make further fresh ones), and the
scheduler's blueprint and CLI group registered if the app factory does not register them yet.
``jobs_for_tests`` replaces the registry with test-only jobs (tests/scheduler/sample_jobs.py) whose work is an
audit row, so "done once" can be counted.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa
from flask import Flask

import crm.api.scheduler  # noqa: F401  (routes on the API blueprint before any app is made)
from crm.core.audit import AuditLog
from crm.extensions import db
from crm.scheduler import registry
from tests.conftest import own_database
from tests.scheduler import sample_jobs
from tests.scheduler.support import register_scheduler


@contextmanager
def _scheduler_app(tmp_path_factory: pytest.TempPathFactory, label: str) -> Iterator[Flask]:
    with own_database(tmp_path_factory, label, wrap=register_scheduler) as application:
        # migrations/env.py's fileConfig() disables every logger that existed before it (ours included).
        logging.getLogger("crm.scheduler").disabled = False
        yield application


@pytest.fixture(scope="session")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    with _scheduler_app(tmp_path_factory, "sched") as application:
        yield application


@pytest.fixture
def fresh_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    """The root ``fresh_app`` (a fresh, migrated database of its own, for several connections, threads or
    processes), with the scheduler registered."""
    with _scheduler_app(tmp_path_factory, "fresh") as application:
        yield application


@pytest.fixture
def jobs_for_tests(monkeypatch: pytest.MonkeyPatch) -> dict[str, registry.JobSpec]:
    """The registry holds only the sample jobs for this test."""
    jobs = dict(sample_jobs.SPECS)
    monkeypatch.setattr(registry, "JOBS", jobs)
    sample_jobs.FAIL.clear()
    sample_jobs.HOOKS.clear()
    yield jobs
    sample_jobs.FAIL.clear()
    sample_jobs.HOOKS.clear()


def work_done(job_id: str | None = None) -> list[str]:
    """The fire times (as the job saw them) of the sample jobs' committed work."""
    stmt = sa.select(AuditLog).where(AuditLog.entity_type == sample_jobs.ENTITY,
                                     AuditLog.entity_id == sample_jobs.ENTITY_ID).order_by(AuditLog.id)
    return [row.summary for row in db.session.scalars(stmt) if not job_id or row.changes.get("job") == job_id]
