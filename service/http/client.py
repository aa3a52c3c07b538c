"""The network address a request comes from.

Normally the peer of the connection. Behind a reverse proxy or load balancer
every peer is the proxy, so the proxy's own addresses can be named
(``CREDITGATE_TRUSTED_PROXIES``): for a request from one of them, the address is
the right-most entry of ``X-Forwarded-For`` that is not itself a trusted proxy.
Entries left of that are the client's own claims and are never believed.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable
from typing import Any

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_FORWARDED_FOR = b"x-forwarded-for"
_UNKNOWN = "unknown"


def parse_networks(values: Iterable[str]) -> tuple[Network, ...]:
    """Addresses or CIDR networks; ValueError naming the bad entry's position."""
    out: list[Network] = []
    for position, value in enumerate(values, start=1):
        try:
            out.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError:
            raise ValueError(f"entry {position} is not an IP address or network") from None
    return tuple(out)


@functools.cache
def _networks(values: tuple[str, ...]) -> tuple[Network, ...]:
    return parse_networks(values)


def _trusted(address: str, networks: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in networks)


def client_address(scope: dict[str, Any], trusted_proxies: tuple[str, ...] = ()) -> str:
    """The client's address for ``scope`` (see the module docstring); ``trusted_proxies``
    are addresses or networks as :func:`parse_networks` takes them."""
    client = scope.get("client")
    peer = str(client[0]) if client else _UNKNOWN
    if not trusted_proxies:
        return peer
    networks = _networks(trusted_proxies)
    if not _trusted(peer, networks):
        return peer
    hops: list[str] = []
    for name, value in scope.get("headers", ()):
        if name == _FORWARDED_FOR:
            hops.extend(h.strip() for h in value.decode("latin-1").split(","))
    for hop in reversed(hops):
        if not _trusted(hop, networks):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return _UNKNOWN  # a malformed hop from the proxy chain: never echo it
    return peer
