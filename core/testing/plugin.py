"""keel's pytest plugin, loaded through the ``pytest11`` entry point ``keel``.

Fixtures (real services, never mocks):

- ``keel_stack`` (session): a :class:`core.devstack.DevStack` with SecantusDB,
  valkey-server, the SMTP sink and the installed plugins' dev services.
- ``keel_settings_factory``: ``factory(overrides=None, /, **dotted) -> Settings`` with
  this test's own database and Valkey key prefix.
- ``keel_settings``: ``keel_settings_factory()``.
- ``mailbox``: the messages that reach the SMTP sink during the test.
- ``keel_installed`` (session): the installed plugins; ``keel_config_file`` (session):
  the empty config file settings are built from.
"""

from core.testing._mailbox import mailbox
from core.testing._stack import (
    keel_config_file,
    keel_installed,
    keel_settings,
    keel_settings_factory,
    keel_stack,
)

__all__ = [
    "keel_config_file",
    "keel_installed",
    "keel_settings",
    "keel_settings_factory",
    "keel_stack",
    "mailbox",
]
