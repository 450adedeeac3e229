"""The WSGI entry point: ``gunicorn config.wsgi`` (see config/gunicorn.conf.py).

Static files are answered here by WhiteNoise and never go through channels;
every other request becomes a message on ``django.wsgi.request`` for a worker
(``python manage.py runworker``) to run through Django.
"""

import os

import django
from django.conf import settings
from whitenoise import WhiteNoise

from channels_core.interfaces.wsgi import WsgiAdapter

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup(set_prefix=False)

application = WhiteNoise(
    WsgiAdapter(),
    root=settings.STATIC_ROOT if os.path.isdir(settings.STATIC_ROOT) else None,
    prefix=settings.STATIC_URL,
)
