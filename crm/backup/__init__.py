"""Backups: the whole database to one file and back (``flask --app wsgi backup create|restore``)."""
