"""The WSGI entry of the example app: ``gunicorn wsgi:app`` (the web process of its Procfile,
run from ``examples/flask_app``)."""

from __future__ import annotations

from app import create_app

app = create_app()
