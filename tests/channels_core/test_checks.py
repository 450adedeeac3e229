"""System checks of the channels core."""

from __future__ import annotations

from channels_core.checks import check_keepalive_within_group_expiry


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
