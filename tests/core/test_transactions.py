"""``lock_for_update``: a change's row lock that does not block rows merely referencing the record."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from crm.auth.models import ApiToken, User
from crm.core.time import utcnow
from crm.core.transactions import lock_for_update
from crm.extensions import db
from tests.conftest import BACKEND, make_user, own_database


def test_the_lock_is_for_no_key_update(count_queries):
    user = make_user("admin")
    with count_queries() as queries:
        assert lock_for_update(User, user.id).id == user.id
    locked = [s for s in queries.statements if "FROM users" in s]
    if BACKEND == "postgres":
        assert locked and locked[-1].rstrip().endswith("FOR NO KEY UPDATE"), locked
    else:  # SQLite has no row locks: the transaction's write lock does it
        assert locked and "FOR" not in locked[-1], locked


def test_two_changes_each_referencing_the_others_locked_row_do_not_deadlock(tmp_path_factory):
    """T1 locks user P and then inserts a row referencing X; T2 locks X and references P. Under ``FOR UPDATE`` the
    inserts' key-share locks wait on each other (PostgreSQL: DeadlockDetected); under ``FOR NO KEY UPDATE`` both
    commit. On SQLite the transactions take turns (database write lock), and both commit too."""
    with own_database(tmp_path_factory, "nokey", reference_data=False) as application:
        with application.app_context():
            p, x = make_user("admin").id, make_user("admin").id
            db.session.commit()
        locked = threading.Barrier(2, timeout=10)
        errors: list[BaseException] = []

        def change(mine: int, other: int) -> None:
            with application.app_context():
                try:
                    if BACKEND == "sqlite":  # one writer at a time: start with the write lock held
                        db.session.execute(sa.text("SELECT 1"))
                    assert lock_for_update(User, mine) is not None
                    if BACKEND == "postgres":
                        locked.wait()  # both hold their row lock before either references the other's row
                    db.session.add(ApiToken(user_id=other, token_hash=f"{mine}-{other}".ljust(64, "0"),
                                            expires_at=utcnow() + timedelta(days=1)))
                    db.session.commit()
                except BaseException as err:  # noqa: BLE001 — reported below
                    errors.append(err)
                    db.session.rollback()
                finally:
                    db.session.remove()

        threads = [threading.Thread(target=change, args=pair) for pair in ((p, x), (x, p))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert not errors, errors
        with application.app_context():
            assert db.session.scalar(sa.select(sa.func.count()).select_from(ApiToken)) == 2
            db.session.remove()
            db.engine.dispose()


pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
