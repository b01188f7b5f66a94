"""``flask --app wsgi seed-demo``."""

from __future__ import annotations

import click


@click.command("seed-demo")
def seed_demo_command():
    """Load the plan's reference data and demo records (idempotent)."""
