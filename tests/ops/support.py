"""Real processes for the operations tests: ``flask --app wsgi …`` and gunicorn, on a database of the test's own.

Each process gets the test database's ``DATABASE_URL``, a ``SECRET_KEY`` shared by all of them (as every host of
one site shares it) and none of the test run's own ``CRM_*`` / ``TEST_DATABASE*`` variables.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SHARED_SECRET = secrets.token_hex(32)  # never instance/secret_key: the tests leave the checkout alone


def process_env(url: str, env: str = "development", **extra: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("CRM_", "TEST_DATABASE", "SECRET_KEY",
                                                                      "DATABASE_URL", "RATELIMIT"))}
    # PYTHONFAULTHANDLER: a process that will not stop is aborted (Process.stop), and its threads' stacks go to its log
    clean.update(DATABASE_URL=url, CRM_ENV=env, SECRET_KEY=SHARED_SECRET, PYTHONUNBUFFERED="1",
                 PYTHONFAULTHANDLER="1", **extra)
    return clean


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Process:
    """A child process whose stderr goes to ``log`` (read while it runs)."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path):
        self.log = log
        self.proc = subprocess.Popen(args, cwd=ROOT, env=env, text=True, stdout=subprocess.DEVNULL,
                                     stderr=log.open("w"))

    @property
    def pid(self) -> int:
        return self.proc.pid

    def text(self) -> str:
        return self.log.read_text()

    def wait_for(self, words: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if words in self.text():
                return
            assert self.proc.poll() is None, f"ended with {self.proc.returncode}:\n{self.text()}"
            time.sleep(0.1)
        raise AssertionError(f"{words!r} never logged:\n{self.text()}")

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM, and its exit status. One still running after ``timeout`` is aborted — SIGABRT, so that the fault
        handler writes where each of its threads was to the log — and the test fails with that log."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGABRT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
            raise AssertionError(f"still running {timeout:g} s after SIGTERM; aborted. Its log:\n{self.text()}"
                                 ) from None


def scheduler(url: str, log: Path, name: str, *, heartbeat_seconds: int = 1) -> Process:
    """``flask --app wsgi scheduler run`` named ``name``, beating every ``heartbeat_seconds``."""
    env = process_env(url, CRM_SCHEDULER_NAME=name, CRM_SCHEDULER_HEARTBEAT_SECONDS=str(heartbeat_seconds))
    return Process([str(BIN / "flask"), "--app", "wsgi", "scheduler", "run", "--standby-retry", "1"], env, log)


def poll(check, timeout: float = 30, interval: float = 0.2):
    """``check()`` until it returns something truthy (returned), else AssertionError with its last value."""
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"never true: last {value!r}")
