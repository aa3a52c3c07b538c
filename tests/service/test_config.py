"""The settings this service added for hardening, and the client address they govern."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from service.config import ConfigError, Settings
from service.http.client import client_address


def _env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, **values: str) -> Settings:
    monkeypatch.setenv("CREDITGATE_DATA_DIR", str(tmp_path))
    for name, value in values.items():
        monkeypatch.setenv(f"CREDITGATE_{name}", value)
    return Settings.from_env()


def test_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    settings = _env(monkeypatch, tmp_path)
    assert (settings.trusted_proxies, settings.metrics_listen, settings.log_file) == ((), None, None)


def test_trusted_proxies_metrics_listener_and_log_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    settings = _env(monkeypatch, tmp_path, TRUSTED_PROXIES="10.0.0.0/8, 192.168.1.5,::1",
                    METRICS_LISTEN="127.0.0.1:9464", LOG_FILE=str(tmp_path / "log" / "cg.log"))
    assert settings.trusted_proxies == ("10.0.0.0/8", "192.168.1.5/32", "::1/128")
    assert settings.metrics_listen == ("127.0.0.1", 9464)
    assert settings.log_file == tmp_path / "log" / "cg.log"
    assert _env(monkeypatch, tmp_path, METRICS_LISTEN="[::1]:9464").metrics_listen == ("::1", 9464)


@pytest.mark.parametrize(("name", "value", "message"), [
    ("TRUSTED_PROXIES", "10.0.0.0/8,proxy.example", "CREDITGATE_TRUSTED_PROXIES: entry 2"),
    ("METRICS_LISTEN", "9464", "CREDITGATE_METRICS_LISTEN must be host:port"),
    ("METRICS_LISTEN", "127.0.0.1:70000", "CREDITGATE_METRICS_LISTEN must be host:port"),
])
def test_bad_values_name_the_variable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str, value: str,
                                      message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _env(monkeypatch, tmp_path, **{name: value})


def test_a_metrics_listener_needs_a_single_worker(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="CREDITGATE_WORKERS=1"):
        _env(monkeypatch, tmp_path, METRICS_LISTEN="127.0.0.1:9464", WORKERS="2")


def _scope(peer: str, forwarded: str | None = None) -> dict[str, object]:
    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded is not None else []
    return {"client": (peer, 5000), "headers": headers}


def test_the_client_address_is_the_peer_unless_a_trusted_proxy_names_it() -> None:
    trusted = ("10.0.0.0/8",)
    # No proxy configured, or a peer that is not one: the header is the client's own claim.
    assert client_address(_scope("203.0.113.9", "198.51.100.1")) == "203.0.113.9"
    assert client_address(_scope("203.0.113.9", "198.51.100.1"), trusted) == "203.0.113.9"
    # Behind the proxy: the right-most address that is not a proxy, never a claim left of it.
    assert client_address(_scope("10.0.0.1", "6.6.6.6, 198.51.100.1"), trusted) == "198.51.100.1"
    assert client_address(_scope("10.0.0.1", "198.51.100.1, 10.0.0.7"), trusted) == "198.51.100.1"
    assert client_address(_scope("10.0.0.1", "2001:db8::1"), trusted) == str(ipaddress.ip_address("2001:db8::1"))
    assert client_address(_scope("10.0.0.1"), trusted) == "10.0.0.1"  # nothing forwarded
    assert client_address(_scope("10.0.0.1", "not-an-address"), trusted) == "unknown"
