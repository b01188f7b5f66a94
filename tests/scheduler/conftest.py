"""Fixtures of the scheduler tests.

``app`` is overridden here: a database of its own (the processes tests make further fresh ones), and the
scheduler's blueprint and CLI group registered if the app factory does not register them yet.
``jobs_for_tests`` replaces the registry with test-only jobs (tests/scheduler/sample_jobs.py) whose work is an
audit row, so "done once" can be counted.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from flask import Flask

import crm.api.scheduler  # noqa: F401  (routes on the API blueprint before any app is made)
from crm.core.audit import AuditLog
from crm.extensions import db
from crm.scheduler import registry
from tests.conftest import make_app, new_database
from tests.scheduler import sample_jobs
from tests.scheduler.support import register_scheduler


@pytest.fixture(scope="session")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    application, drop = _migrated_app(tmp_path_factory, "sched")
    yield application
    with application.app_context():
        db.engine.dispose()
    drop()


def _migrated_app(tmp_path_factory: pytest.TempPathFactory, label: str) -> tuple[Flask, object]:
    from flask_migrate import upgrade

    from crm.demo.reference import load_reference_data

    url, drop = new_database(tmp_path_factory, label)
    application = register_scheduler(make_app(url))
    with application.app_context():
        upgrade()
        load_reference_data()
        db.session.commit()
        db.session.remove()
    # migrations/env.py's fileConfig() disables every logger that existed before it (ours included).
    logging.getLogger("crm.scheduler").disabled = False
    return application, drop


@pytest.fixture
def fresh_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    """An app on a fresh, migrated database of its own, outside the per-test rollback: for tests that use
    several connections, threads or processes (PITFALLS: tests)."""
    application, drop = _migrated_app(tmp_path_factory, "fresh")
    yield application
    with application.app_context():
        db.engine.dispose()
    drop()


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
