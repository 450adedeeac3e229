"""System checks of the channels core."""

from __future__ import annotations

import pytest

from channels_core.checks import check_keepalive_within_group_expiry, check_requests_expire_before_the_http_timeout


def test_a_keepalive_longer_than_the_group_expiry_is_warned_about(settings) -> None:
    settings.CHANNELS_WS_KEEPALIVE = 30
    settings.CHANNEL_BACKENDS = {
        "default": {"BACKEND": "channels_core.backends.memory.InMemoryBackend", "GROUP_EXPIRY": 20}
    }
    (warning,) = check_keepalive_within_group_expiry()
    assert warning.id == "channels_core.W001"
    assert "CHANNELS_WS_KEEPALIVE (30 s) is not shorter than GROUP_EXPIRY (20 s)" in warning.msg


def test_the_defaults_pass(settings) -> None:
    settings.CHANNELS_WS_KEEPALIVE = 30
    settings.CHANNEL_BACKENDS = {"default": {"BACKEND": "channels_core.backends.memory.InMemoryBackend"}}
    assert check_keepalive_within_group_expiry() == []


def test_requests_that_outlive_the_http_timeout_are_warned_about(settings) -> None:
    settings.CHANNELS_HTTP_TIMEOUT = 20
    settings.CHANNEL_BACKENDS = {"default": {"BACKEND": "channels_core.backends.memory.InMemoryBackend", "EXPIRY": 60}}
    (warning,) = check_requests_expire_before_the_http_timeout()
    assert warning.id == "channels_core.W002"
    assert "django.wsgi.request expire after 60 s" in warning.msg
    assert '"CHANNEL_EXPIRY": {"django.wsgi.request": 10}' in warning.hint


@pytest.mark.parametrize("rule", ["django.wsgi.request", "django.wsgi.*"])
def test_a_request_expiry_under_the_http_timeout_passes(settings, rule: str) -> None:
    settings.CHANNELS_HTTP_TIMEOUT = 20
    settings.CHANNEL_BACKENDS = {
        "default": {"BACKEND": "channels_core.backends.memory.InMemoryBackend", "CHANNEL_EXPIRY": {rule: 10}}
    }
    assert check_requests_expire_before_the_http_timeout() == []


def test_the_projects_settings_pass() -> None:
    assert check_keepalive_within_group_expiry() == []
    assert check_requests_expire_before_the_http_timeout() == []
