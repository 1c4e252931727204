"""keel's pytest plugin, loaded through the ``pytest11`` entry point ``keel``.

Fixtures (real services, never mocks):

- ``keel_stack`` (session): a :class:`core.devstack.DevStack` with SecantusDB,
  valkey-server, the SMTP sink and the installed plugins' dev services.
- ``keel_settings_factory``: ``factory(overrides=None, /, **dotted) -> Settings`` with
  this test's own database and Valkey key prefix.
- ``keel_settings``: ``keel_settings_factory()``.
- ``mailbox``: the messages that reach the SMTP sink during the test.
- ``keel_app_factory``: ``async with keel_app_factory(plugins=None, extra=(), **dotted)``
  gives a :class:`core.testing.KeelTestApp` (running app, httpx client, ``drain()``,
  ``user()``, ``signed_in(role)``); ``keel_app``: the same with config.toml's plugins.
- ``keel_factory``: ``await keel_factory(*plugin_classes, **dotted) -> Keel``, a runtime
  context (db, valkey, events, jobs) with only those test plugins; no HTTP app.
- ``keel_installed`` (session): the installed plugins; ``keel_config_file`` (session):
  the empty config file settings are built from.
"""

from core.testing._app import keel_app, keel_app_factory, keel_factory
from core.testing._mailbox import mailbox
from core.testing._stack import (
    keel_config_file,
    keel_installed,
    keel_settings,
    keel_settings_factory,
    keel_stack,
)

__all__ = [
    "keel_app",
    "keel_app_factory",
    "keel_config_file",
    "keel_factory",
    "keel_installed",
    "keel_settings",
    "keel_settings_factory",
    "keel_stack",
    "mailbox",
]
