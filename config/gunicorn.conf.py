"""gunicorn settings for the WSGI adapter: ``gunicorn -c config/gunicorn.conf.py config.wsgi``.

A request thread spends its time waiting for a worker's answer on a channel,
not computing, so each process runs many threads. Every setting can be
overridden from the environment (``GUNICORN_WORKERS=4``) or the command line.
"""

import glob
import os
import shutil
import tempfile

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


# Metrics (docs/howto/monitor.rst): each gunicorn worker process counts in files of one folder,
# PROMETHEUS_MULTIPROC_DIR, and /metrics sums them, whichever process answers. prometheus_client
# reads the variable when it is first imported, so it is set here, in the master, before any
# worker process imports the site (which is why this configuration does not preload the app).
_metrics_dir_made = ""


def on_starting(server):
    """Start with an empty metrics folder (files of an earlier run would count again); make one if needed."""
    global _metrics_dir_made
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not directory:
        if server.cfg.workers < 2:
            return  # one process keeps its metrics in memory
        directory = _metrics_dir_made = tempfile.mkdtemp(prefix="gunicorn-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
    os.makedirs(directory, exist_ok=True)
    for stale in glob.glob(os.path.join(directory, "*.db")):
        os.remove(stale)


def child_exit(server, worker):
    """A worker process ended: its gauges stop counting (its counters' files stay, so no count goes back)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    """Remove the metrics folder this configuration made (one named in the environment is the caller's)."""
    if _metrics_dir_made:
        shutil.rmtree(_metrics_dir_made, ignore_errors=True)
