"""tests/ops/support.Process.stop: a process that will not stop fails the test with where it hung, not a bare
timeout (the scheduler's restart test once timed out with nothing to go on)."""

from __future__ import annotations

import pytest

from tests.ops.support import BIN, Process, process_env

HANGS = """
import signal, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
def stuck_in_here():
    time.sleep(600)
print("up", file=sys.stderr, flush=True)
stuck_in_here()
"""


def test_a_process_that_ignores_sigterm_fails_with_its_stack(tmp_path):
    proc = Process([str(BIN / "python"), "-c", HANGS], process_env("sqlite://"), tmp_path / "hang.log")
    proc.wait_for("up")  # SIGTERM ignored from here on
    with pytest.raises(AssertionError, match="still running 1 s after SIGTERM") as failed:
        proc.stop(timeout=1)
    assert "stuck_in_here" in str(failed.value)  # the fault handler's stack, from the process's log
    assert proc.proc.poll() is not None


def test_a_process_that_stops_gives_its_status(tmp_path):
    proc = Process([str(BIN / "python"), "-c", "import time; time.sleep(600)"], process_env("sqlite://"),
                   tmp_path / "ok.log")
    assert proc.stop(timeout=10) == -15
