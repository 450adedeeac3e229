"""System checks of the channels core."""

from __future__ import annotations

import pytest

from channels_core.checks import check_keepalive_within_group_expiry, check_start_tickets_outlive_the_http_timeout


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


def test_start_tickets_that_expire_within_the_http_timeout_are_warned_about(settings) -> None:
    settings.CHANNELS_HTTP_TIMEOUT = 20
    settings.CHANNEL_BACKENDS = {"default": {"BACKEND": "channels_core.backends.memory.InMemoryBackend", "EXPIRY": 15}}
    (warning,) = check_start_tickets_outlive_the_http_timeout()
    assert warning.id == "channels_core.W002"
    assert "Start tickets (django.wsgi.start.*) expire after 15 s" in warning.msg
    assert '"CHANNEL_EXPIRY": {"django.wsgi.start.*": 40}' in warning.hint


@pytest.mark.parametrize("rule", ["django.wsgi.start.*", "django.wsgi.*"])
def test_start_tickets_that_outlive_the_http_timeout_pass(settings, rule: str) -> None:
    settings.CHANNELS_HTTP_TIMEOUT = 20
    settings.CHANNEL_BACKENDS = {
        "default": {
            "BACKEND": "channels_core.backends.memory.InMemoryBackend",
            "EXPIRY": 10,
            "CHANNEL_EXPIRY": {rule: 40},
        }
    }
    assert check_start_tickets_outlive_the_http_timeout() == []


def test_the_projects_settings_pass() -> None:
    assert check_keepalive_within_group_expiry() == []
    assert check_start_tickets_outlive_the_http_timeout() == []
