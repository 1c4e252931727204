"""Helpers of the "secrets never at rest" tests (also used by ``tests/e2e``).

A real SMTP server that refuses what it is sent, and readers of everything a secret could
be left in: every value of a test's Valkey keys, an RDB file written by ``SAVE``, and the
SAQ jobs of the ``email`` queue.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from saq.job import Status

from core.context import Keel
from core.valkey import awaited

_QUOTED = re.compile(r"code|token|http", re.IGNORECASE)


@dataclass
class RefusingSmtp:
    """A real SMTP server: it takes each message, keeps it, then answers the end of DATA
    with ``554`` quoting the message's lines that mention a code, token or link (as a
    content filter may), so the secrets a failed send carried are known to the test."""

    port: int = 0
    messages: list[EmailMessage] = field(default_factory=list)
    replies: list[str] = field(default_factory=list)

    async def session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Serve one SMTP connection."""
        writer.write(b"220 refusing.test ESMTP\r\n")
        while line := await reader.readline():
            verb = line[:4].upper()
            if verb in {b"EHLO", b"HELO"}:
                writer.write(b"250 refusing.test\r\n")
            elif verb == b"DATA":
                writer.write(b"354 go ahead\r\n")
                await writer.drain()
                writer.write(await self._refuse(reader))
            elif verb == b"QUIT":
                writer.write(b"221 bye\r\n")
                await writer.drain()
                break
            else:  # MAIL, RCPT, RSET, NOOP
                writer.write(b"250 ok\r\n")
            await writer.drain()
        writer.close()

    async def _refuse(self, reader: asyncio.StreamReader) -> bytes:
        lines: list[bytes] = []
        while (line := await reader.readline()) not in {b".\r\n", b""}:
            lines.append(line[1:] if line.startswith(b"..") else line)
        message = BytesParser(policy=policy.default).parsebytes(b"".join(lines))
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        candidates = [str(message["Subject"]), *plain_text(message).splitlines()]
        quoted = " | ".join(line.strip() for line in candidates if _QUOTED.search(line))
        reply = f"554 5.7.1 content refused: {quoted[:400]}"
        self.replies.append(reply)
        return reply.encode() + b"\r\n"


@asynccontextmanager
async def refusing_smtp_server() -> AsyncIterator[RefusingSmtp]:
    """A :class:`RefusingSmtp` on 127.0.0.1, served by the current event loop."""
    smtp = RefusingSmtp()
    server = await asyncio.start_server(smtp.session, "127.0.0.1", 0)
    smtp.port = server.sockets[0].getsockname()[1]
    async with server:
        yield smtp
        server.close()


def plain_text(message: EmailMessage) -> str:
    """The plain-text body of ``message``."""
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def reset_tokens(smtp: RefusingSmtp) -> list[str]:
    """The reset token of each message ``smtp`` refused."""
    found = [re.search(r"reset token: ([A-Za-z0-9_-]+)", plain_text(m)) for m in smtp.messages]
    assert all(found), smtp.replies
    return [m.group(1) for m in found if m]


async def valkey_values(keel: Keel) -> bytes:
    """Every key with the test's prefix (wherever it is in the name) and all its values."""
    client = keel.valkey
    prefix = keel.settings.valkey.key_prefix.encode()
    found: list[bytes] = []
    async for key in client.scan_iter(match=b"*" + prefix + b":*", count=1000):
        if prefix not in key.split(b":"):
            continue
        values = await _values(keel, key)
        found.append(b"\n".join([key, *(v for v in values if v is not None)]))
    assert found, "no key of this test in Valkey: the search would prove nothing"
    return b"\n\n".join(found)


async def _values(keel: Keel, key: bytes) -> list[Any]:
    client = keel.valkey
    name = key.decode()
    kind = (await client.type(name)).decode()
    if kind == "string":
        return [await client.get(name)]
    if kind == "hash":
        fields: dict[bytes, bytes] = await awaited(client.hgetall(name))
        return [x for kv in fields.items() for x in kv]
    if kind in {"list", "set", "zset"}:
        members: list[Any] | set[Any] = (
            await awaited(client.lrange(name, 0, -1))
            if kind == "list"
            else await awaited(client.smembers(name))
            if kind == "set"
            else await client.zrange(name, 0, -1)
        )
        return list(members)
    if kind == "stream":
        return [repr(entry).encode() for entry in await client.xrange(name)]
    return []  # expired between SCAN and TYPE


async def rdb_file(keel: Keel) -> bytes:
    """The bytes of an RDB snapshot written now by ``SAVE``, with string compression off
    (LZF would hide a secret inside a longer value). The test stack runs Valkey with
    ``save ""``; ``SAVE`` writes the file anyway."""
    client = keel.valkey
    directory = (await client.config_get("dir"))["dir"]
    name = (await client.config_get("dbfilename"))["dbfilename"]
    compression = (await client.config_get("rdbcompression"))["rdbcompression"]
    await client.config_set("rdbcompression", "no")
    try:
        await client.save()
    finally:
        await client.config_set("rdbcompression", compression)
    return (Path(_str(directory)) / _str(name)).read_bytes()


def _str(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def occurrences(secret: str, places: dict[str, bytes]) -> list[str]:
    """Where ``secret`` appears; a code must stand alone (not inside a longer number).

    A code without a leading zero stored alone as a value is kept by Valkey as an integer,
    so in an RDB file it is also looked for as one (a 32-bit string value, a 24-bit
    listpack entry).
    """
    forms = [rb"(?<![0-9])" + re.escape(secret.encode()) + rb"(?![0-9])"]
    if secret.isdigit() and not secret.startswith("0") and int(secret) < 2**23:
        number = int(secret)
        forms.append(re.escape(b"\xc2" + number.to_bytes(4, "little")))
        forms.append(re.escape(b"\xf2" + number.to_bytes(3, "little")))
    pattern = re.compile(b"|".join(forms))
    return [where for where, data in places.items() if pattern.search(data)]


async def mail_jobs(keel: Keel) -> list[dict[str, Any]]:
    """The SAQ jobs of the ``email`` queue still stored (finished ones are kept a while),
    each with its ``id``."""
    client = keel.valkey
    jobs = []
    pattern = f"saq:job:{keel.settings.valkey.key_prefix}:email:*"
    async for key in client.scan_iter(match=pattern, count=1000):
        raw = await client.get(key)
        if raw is not None:
            jobs.append({"id": key.decode(), **json.loads(raw)})
    return jobs


async def failed_mail_job(keel: Keel) -> dict[str, Any] | None:
    """The one failed job of the ``email`` queue; None while there is none."""
    jobs = [j for j in await mail_jobs(keel) if j["status"] == Status.FAILED.value]
    assert len(jobs) <= 1, jobs
    return jobs[0] if jobs else None


def failure_lines(logs: str, job_id: str) -> list[str]:
    """The ERROR lines of JSON logs that name ``job_id``."""
    return [line for line in logs.splitlines() if job_id in line and '"ERROR"' in line]
