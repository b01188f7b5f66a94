"""The in-app inbox every job and workflow writes to."""
