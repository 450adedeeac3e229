"""gunicorn settings for the WSGI adapter: ``gunicorn -c config/gunicorn.conf.py config.wsgi``.

A request thread spends its time waiting for a worker's answer on a channel,
not computing, so each process runs many threads. Every setting can be
overridden from the environment (``GUNICORN_WORKERS=4``) or the command line.
"""

import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "32"))
# Longer than CHANNELS_HTTP_TIMEOUT, so the adapter's 504 is what a slow request gets.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = 30
accesslog = "-"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
# gunicorn 27 opens a control socket in the home directory (~/.gunicorn/gunicorn.ctl). The
# site does not use it, and the tests' gunicorns must write nothing outside their own
# folders. (Older gunicorns ignore the setting.)
control_socket_disable = True
