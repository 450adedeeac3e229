"""The admin's "Channels" page: queues, groups, presence sets and servers, refreshed every two seconds.

The page is the change list of "Queued messages" under "Channels core" in the
admin's index (``/admin/channels_core/queuedmessage/``): registering the
backend's own table gives the page its place in the index, its breadcrumbs and
the admin's login without a model of its own, and it lists nothing row by
row, since a Redis backend has no rows. It shows what ``manage.py channels``
prints (:mod:`channels_core.inspection`): the page loads, then polls a JSON
view (``state.json``) every :data:`REFRESH_SECONDS`, which keeps working
through reloads and restarts of any server, as a socket would not without
more code.

Staff only: any active staff member may look (no model permission is
needed, nothing can be changed), and anyone else gets the admin's login page,
the JSON view included.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path

from . import defaults
from .backends import backends, get_backend
from .exceptions import ChannelsError
from .inspection import inspect_backend
from .models import QueuedMessage

__all__ = ["REFRESH_SECONDS", "ChannelsAdmin"]

#: Seconds between two refreshes of the page.
REFRESH_SECONDS = 2.0

# The stubs make ModelAdmin generic; Django's own class is not subscriptable at run time.
if TYPE_CHECKING:
    ModelAdmin = admin.ModelAdmin[QueuedMessage]
else:
    ModelAdmin = admin.ModelAdmin


@admin.register(QueuedMessage)
class ChannelsAdmin(ModelAdmin):
    """The "Channels" page and its JSON, in place of the queued messages' change list and forms."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return _is_staff(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _is_staff(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_urls(self) -> list[URLPattern]:
        """The page, under the change list's name (the index links there), and its JSON; no forms."""
        info = self.opts.app_label, self.opts.model_name
        return [
            path("", self.admin_site.admin_view(self.channels_view), name="{}_{}_changelist".format(*info)),
            path("state.json", self.admin_site.admin_view(self.state_view), name="{}_{}_state".format(*info)),
        ]

    def channels_view(self, request: HttpRequest) -> HttpResponse:
        """The page: its frame, filled in and refreshed by ``channels_core/inspector.js``."""
        alias = _alias_of(request)
        context = {
            **self.admin_site.each_context(request),
            "title": "Channels",
            "opts": self.opts,
            "alias": alias,
            "aliases": list(backends.configured()),
            "one_process": not get_backend(alias).cross_process,
            "refresh_ms": int(REFRESH_SECONDS * 1000),
        }
        return TemplateResponse(request, "admin/channels_core/channels.html", context)

    def state_view(self, request: HttpRequest) -> JsonResponse:
        """What the backend holds now, as ``manage.py channels --json`` prints it, or an ``error`` saying why not.

        503 when the backend cannot be reached now, 501 for a backend kind the inspector cannot read.
        """
        alias = _alias_of(request)
        try:
            state = inspect_backend(alias).as_dict()
        except ChannelsError as error:
            return JsonResponse({"alias": alias, "error": str(error)}, status=503)
        except TypeError as error:
            return JsonResponse({"alias": alias, "error": str(error)}, status=501)
        return JsonResponse(state)


def _is_staff(request: HttpRequest) -> bool:
    return bool(request.user.is_active and request.user.is_staff)


def _alias_of(request: HttpRequest) -> str:
    alias = request.GET.get("alias", defaults.DEFAULT_ALIAS)
    if alias not in backends.configured():
        raise Http404(f"no channel backend {alias!r} in CHANNEL_BACKENDS")
    return alias
