"""Shared mechanisms only: time, types, access, audit, errors, pagination."""
