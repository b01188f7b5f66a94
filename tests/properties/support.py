"""The settings every property test runs with: few enough examples that each property stays under 2 s on a
shared machine, no example database in the work tree, and the per-test transaction (a function-scoped fixture)
shared by the examples of one test, which only read."""

from __future__ import annotations

from hypothesis import HealthCheck, settings

PROPERTY = settings(max_examples=60, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])
