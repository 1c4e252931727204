"""Free ports and readiness probes: each probe makes one quick attempt and says yes or no."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator

HOST = "127.0.0.1"
_ATTEMPT_S = 0.5


@contextlib.contextmanager
def reserved_ports(count: int) -> Iterator[list[int]]:
    """``count`` distinct free ports on :data:`HOST`, held until the block ends.

    Holding every socket until all ports are chosen keeps the kernel from handing out
    the same port twice; the services bind them right after the block.
    """
    with contextlib.ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind((HOST, 0))
            ports.append(int(sock.getsockname()[1]))
        yield ports


def port_open(port: int, host: str = HOST) -> bool:
    """True when ``host:port`` accepts a TCP connection."""
    try:
        with socket.create_connection((host, port), timeout=_ATTEMPT_S):
            return True
    except OSError:
        return False


def valkey_ready(port: int) -> bool:
    """True when valkey-server on ``port`` answers PING with PONG (not ``-LOADING``)."""
    try:
        with socket.create_connection((HOST, port), timeout=_ATTEMPT_S) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def smtp_ready(port: int) -> bool:
    """True when the SMTP server on ``port`` greets with ``220``."""
    try:
        with socket.create_connection((HOST, port), timeout=_ATTEMPT_S) as sock:
            ready = sock.recv(512).startswith(b"220")
            sock.sendall(b"QUIT\r\n")
            return ready
    except OSError:
        return False


def mongo_ready(url: str, port: int) -> bool:
    """True when the MongoDB-compatible server at ``url`` answers ``hello``."""
    if not port_open(port):
        return False
    from pymongo import MongoClient  # noqa: PLC0415 - only the devstack needs it, once
    from pymongo.errors import PyMongoError  # noqa: PLC0415

    timeout_ms = int(_ATTEMPT_S * 4000)
    client: MongoClient[dict[str, object]] = MongoClient(
        url, serverSelectionTimeoutMS=timeout_ms, connectTimeoutMS=timeout_ms
    )
    try:
        client.admin.command("hello")
    except PyMongoError:
        return False
    finally:
        client.close()
    return True
