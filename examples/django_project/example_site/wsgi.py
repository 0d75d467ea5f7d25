"""The WSGI entry of the example project: ``gunicorn example_site.wsgi`` (the web process of
its Procfile, run from ``examples/django_project``)."""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example_site.settings")
application = get_wsgi_application()
