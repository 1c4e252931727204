"""An SMTP sink for development and tests: every message becomes one ``.eml`` file.

Run as ``python -m core.devstack.smtp_sink --port 2525 --dir var/mail``. Each accepted
message is written to ``<dir>/<arrival time in ns, 20 digits>.eml``, so sorting the names
sorts by arrival; it is written under a temporary name first and then renamed, so a
reader never sees half a message. Two headers are prepended: ``X-MailFrom`` (the
envelope sender) and ``X-RcptTo`` (the envelope recipients, Bcc included).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import time
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP


class MaildirHandler:
    """aiosmtpd handler storing each message as a file in ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._last = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        """Store the message; aiosmtpd calls this once per accepted message."""
        self.store(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content)
        return "250 Message accepted for delivery"

    def store(self, mail_from: str, rcpt_tos: list[str], content: bytes) -> Path:
        """Write one message; returns its path."""
        stamp = max(time.time_ns(), self._last + 1)  # strictly increasing names
        self._last = stamp
        path = self.directory / f"{stamp:020d}.eml"
        envelope = f"X-MailFrom: {mail_from}\r\nX-RcptTo: {', '.join(rcpt_tos)}\r\n"
        partial = self.directory / f".{path.name}.part"
        partial.write_bytes(envelope.encode() + content)
        os.replace(partial, path)
        return path


async def serve(host: str, port: int, directory: Path) -> None:
    """Accept mail on ``host:port`` until SIGTERM or SIGINT."""
    handler = MaildirHandler(directory)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, hostname="keel-smtp-sink", enable_SMTPUTF8=True), host, port
    )
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with server:
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dir", type=Path, required=True, help="where .eml files go")
    args = parser.parse_args(argv)
    args.dir.mkdir(parents=True, exist_ok=True)
    asyncio.run(serve(args.host, args.port, args.dir))


if __name__ == "__main__":
    main()
