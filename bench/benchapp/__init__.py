"""A tiny Django app for ``bench/interfaces.py``: one plain view and the WebSocket consumers it measures.

It lives in ``bench/`` so the benchmark never touches the project's apps. The
view (``views.hello``) is the same for all three HTTP stacks; ``consumers`` is
our side's echo and broadcast consumers (Django Channels' are in
``bench/peer_asgi/consumers.py``).
"""
