"""Fixtures of the service tests that commit for real (the cached counts and choosers, crm/core/cache.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask

from crm.core import cache
from crm.extensions import db
from tests.conftest import own_database


@pytest.fixture(scope="module")
def own_app(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    """One migrated database for the module (each test builds its own records and compares relative to them)."""
    with own_database(tmp_path_factory, request.module.__name__.rsplit(".", 1)[-1]) as application:
        yield application


@pytest.fixture
def committed(own_app: Flask) -> Iterator[Flask]:
    """The module's app, its context open, with nothing kept before or after the test."""
    cache.clear()
    with own_app.app_context():
        try:
            yield own_app
        finally:
            db.session.rollback()
            cache.clear()
