"""WSGI entry point: ``flask --app wsgi ...`` and ``gunicorn wsgi:app``."""

from crm import create_app
from crm.app import settle

app = create_app()
settle()
