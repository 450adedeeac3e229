"""gunicorn settings for ``bench/interfaces.py``: the project's ``config/gunicorn.conf.py`` without access log.

Used for our stack and for plain Django alike, so both run the same worker class
(gthread) and timeouts; ``--workers`` and ``--threads`` come from the command line.
The access log (one line per request on stdout in the project's file) is turned
off for the benchmark: daphne writes none by default either.
"""

import runpy
from pathlib import Path

_project = runpy.run_path(str(Path(__file__).resolve().parent.parent / "config" / "gunicorn.conf.py"))
globals().update({name: value for name, value in _project.items() if not name.startswith("_") and name != "os"})

accesslog = None
