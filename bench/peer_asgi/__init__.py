"""The peer for ``bench/interfaces.py``: the same site on Django Channels 4 + daphne + channels_redis.

Runs in ``bench/.venvs/daphne4`` as ``daphne bench.peer_asgi.asgi:application``
with ``DJANGO_SETTINGS_MODULE=bench.peer_asgi.settings``. Nothing of
``channels_core`` is imported on this side.
"""
