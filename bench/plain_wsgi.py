"""Plain Django for ``bench/interfaces.py``: the bench settings as an ordinary WSGI app, no channels in the path.

``gunicorn bench.plain_wsgi`` with ``PYTHONPATH=<repo root>``.
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.bench_settings")

application = get_wsgi_application()
