"""The ``[metrics]`` table: Prometheus metrics at ``/metrics`` (see docs/metrics.md)."""

from __future__ import annotations

from typing import Annotated

import msgspec

BIND_PATTERN = r"^(\[[0-9A-Fa-f:.]+\]|[0-9A-Za-z.-]+):[0-9]{1,5}$"


class MetricsSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    enabled: bool = True
    """Record metrics and serve them (``/metrics``, or the ``bind`` listener)."""
    bind: Annotated[str, msgspec.Meta(pattern=f"({BIND_PATTERN})|^$")] = ""
    """``host:port`` of a separate listener for scrapers (e.g. ``127.0.0.1:9464``), run by
    ``keel serve`` and ``keel run``; when set, ``/metrics`` on the API port is 404 for
    everyone. Empty serves ``/metrics`` on the API port to admins and ``token`` holders."""
    dir: str = "./var/metrics"
    """Where the processes of one deployment on this host keep their metric files
    (prometheus-client's multiprocess mode); ``keel serve``, ``keel worker`` and
    ``keel run`` delete the files of processes that are no longer running at start. One
    directory per deployment: two deployments sharing it report each other's figures."""
    token: Annotated[str, msgspec.Meta(pattern=r"^(.{32,})?$")] = ""
    """A bearer token a scraper may present on ``/metrics`` instead of an admin's access
    token (``KEEL_METRICS__TOKEN``; at least 32 characters). Empty: admins only."""
