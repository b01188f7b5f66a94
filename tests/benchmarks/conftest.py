"""The benchmark's data generator writes with PostgreSQL ``COPY``: its test is collected in the PostgreSQL run only
(the SQLite run has nothing to run it on; it is not skipped there, it does not exist there)."""

from tests.conftest import BACKEND

collect_ignore = [] if BACKEND == "postgres" else ["test_province.py"]
