"""A serving process moves its start-up objects out of the collector's reach (crm.app.settle, wsgi.py)."""

from __future__ import annotations

import gc
import subprocess
import sys
from pathlib import Path

from crm.app import settle

ROOT = Path(__file__).resolve().parents[2]


def test_settle_freezes_what_is_alive_and_collections_still_run():
    try:
        settle()
        frozen = gc.get_freeze_count()
        assert frozen > 10_000  # the modules, the app, the test's objects
        garbage = [[]]
        garbage[0].append(garbage)  # a cycle made after: still collected
        del garbage
        assert gc.collect() >= 1
        assert gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()


def test_the_wsgi_module_settles_the_serving_process(tmp_path):
    code = "import gc, wsgi; print(gc.get_freeze_count())"
    env = {"CRM_ENV": "development", "DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite3'}",
           "SECRET_KEY": "settle-test-" + "k" * 40, "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,  # noqa: S603
                         timeout=120, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    assert int(out.stdout.strip().splitlines()[-1]) > 10_000
