"""Models and migrations agree, and upgrade → downgrade → upgrade works on the backend under test."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from flask_migrate import downgrade, upgrade

from crm.extensions import db
from tests.conftest import own_database


@pytest.fixture
def fresh_app(tmp_path_factory):
    """An app on an empty database of its own: the test runs the migrations itself."""
    with own_database(tmp_path_factory, "migr", migrate=False) as application:
        yield application


def test_round_trip_and_no_pending_changes(fresh_app):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with fresh_app.app_context():
        upgrade()
        tables_after_upgrade = set(sa.inspect(db.engine).get_table_names())
        assert {"enterprises", "users", "audit_log", "api_tokens"} <= tables_after_upgrade
        downgrade(revision="base")
        assert set(sa.inspect(db.engine).get_table_names()) <= {"alembic_version"}
        upgrade()
        assert set(sa.inspect(db.engine).get_table_names()) == tables_after_upgrade
        with db.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True, "render_as_batch": True})
            diff = compare_metadata(context, db.metadata)
        assert diff == [], f"models and migrations disagree: {diff}"
