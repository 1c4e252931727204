"""Reading what reached the SMTP sink (:mod:`core.devstack.smtp_sink`)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Iterator
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import getaddresses
from pathlib import Path

import pytest

from core.devstack import DevStack

Predicate = Callable[[EmailMessage], bool]
_POLL_S = 0.02


class Mailbox:
    """The messages the SMTP sink stored in ``directory``, oldest first.

    Only messages that arrived after the mailbox was made count (the ``mailbox``
    fixture makes one at the start of each test). Messages sent late by an earlier
    test's background job can still arrive; send to a unique address and filter on it
    (``messages(to=...)``, or a predicate) when that matters.

    Args:
        directory: the sink's directory (``DevStack.mail_dir``).
        ignore: file names to leave out; :meth:`from_now` passes the ones already there.
    """

    def __init__(self, directory: Path, *, ignore: Iterable[str] = ()) -> None:
        self.directory = directory
        self._ignore = frozenset(ignore)
        self._parsed: dict[str, EmailMessage] = {}

    @classmethod
    def from_now(cls, directory: Path) -> Mailbox:
        """A mailbox holding only messages that arrive from now on."""
        return cls(directory, ignore=(p.name for p in directory.glob("*.eml")))

    def messages(self, *, to: str | None = None) -> list[EmailMessage]:
        """The messages so far, oldest first; with ``to``, only those for that address.

        ``to`` matches the envelope recipients (Bcc included), ``To`` and ``Cc``,
        case-insensitively.
        """
        names = sorted(p.name for p in self.directory.glob("*.eml"))
        found = [self._parse(name) for name in names if name not in self._ignore]
        if to is None:
            return found
        return [m for m in found if to.casefold() in recipients(m)]

    def __iter__(self) -> Iterator[EmailMessage]:
        return iter(self.messages())

    def __len__(self) -> int:
        return len(self.messages())

    async def wait_for(
        self,
        predicate: Predicate | None = None,
        *,
        timeout: float = 5.0,  # noqa: ASYNC109 - polls a directory; the name mirrors asyncio
    ) -> EmailMessage:
        """Wait until a message matches ``predicate`` (any message when None).

        Returns:
            The oldest matching message.

        Raises:
            TimeoutError: none arrived within ``timeout`` seconds; the message lists
                what did arrive.
        """
        deadline = time.monotonic() + timeout
        while True:
            for message in self.messages():
                if predicate is None or predicate(message):
                    return message
            if time.monotonic() >= deadline:
                raise TimeoutError(self._summary(predicate, timeout))
            await asyncio.sleep(_POLL_S)

    def _parse(self, name: str) -> EmailMessage:
        if name not in self._parsed:
            data = (self.directory / name).read_bytes()
            self._parsed[name] = BytesParser(policy=policy.default).parsebytes(data)
        return self._parsed[name]

    def _summary(self, predicate: Predicate | None, timeout: float) -> str:
        arrived = self.messages()
        lines = [f"  to {m['To']!s}: {m['Subject']!s}" for m in arrived]
        what = "message" if predicate is None else f"message matching {predicate!r}"
        head = f"no {what} in the SMTP sink within {timeout:g} s; {len(arrived)} arrived:"
        return "\n".join([head, *lines])


def recipients(message: EmailMessage) -> set[str]:
    """Every recipient address of ``message``, case-folded: envelope, ``To`` and ``Cc``."""
    values = [str(message.get(h, "")) for h in ("X-RcptTo", "To", "Cc")]
    return {addr.casefold() for _name, addr in getaddresses(values) if addr}


@pytest.fixture
def mailbox(keel_stack: DevStack) -> Mailbox:
    """The SMTP sink's messages that arrive during this test (see :class:`Mailbox`)."""
    return Mailbox.from_now(keel_stack.mail_dir)
