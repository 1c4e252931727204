"""Testing keel and keel plugins against the real embedded stack.

The fixtures live in :mod:`core.testing.plugin`, which pytest loads by itself (the
``pytest11`` entry point), so a plugin's own test suite can use them with no conftest.
"""

from core.testing._app import PASSWORD, AppFactory, KeelFactory, KeelTestApp, running
from core.testing._faults import frozen, private_stack, process_state, resume, stop
from core.testing._mailbox import Mailbox, recipients
from core.testing._stack import SettingsFactory

__all__ = [
    "PASSWORD",
    "AppFactory",
    "KeelFactory",
    "KeelTestApp",
    "Mailbox",
    "SettingsFactory",
    "frozen",
    "private_stack",
    "process_state",
    "recipients",
    "resume",
    "running",
    "stop",
]
