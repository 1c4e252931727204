"""Counting clients by IP: what every per-client limit (logins, WebSocket upgrades) keys on."""

from __future__ import annotations

import ipaddress

IPV6_PREFIX = 64
"""IPv6 clients are counted per /64: one host or home usually holds a whole /64."""


def client_key(ip: str) -> str:
    """The key a client IP is counted by: the address (IPv4-mapped IPv6 unwrapped), or its
    /64 for IPv6; anything that is not an address, cut to 64 characters."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip[:64]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, IPV6_PREFIX), strict=False))
    return str(address)
