"""A development-only page: ``/dev/mailbox`` lists what reached the SMTP sink.

Mounted only under ``keel run`` (:func:`core.devstack.dev_pages`), and guarded on every
request: 404 anywhere else, admins only under ``keel run --public``. The embedded SMTP
sink (:mod:`core.devstack.smtp_sink`) stores each message as ``<data_dir>/mail/<ns>.eml``.
"""

from __future__ import annotations

import html
import re
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

from litestar import Controller, MediaType, get
from litestar.params import FromPath

from core.devstack import dev_pages_only
from core.errors import NotFoundError
from core.http.deps import KeelDep

_NAME = re.compile(r"^[0-9]{20}\.eml$")
MAX_LISTED = 200
_HEADERS = ("Date", "From", "To", "X-RcptTo", "Subject")


def mail_dir(data_dir: str) -> Path:
    """The SMTP sink's directory under ``[devstack] data_dir``."""
    return Path(data_dir) / "mail"


def _read(path: Path) -> EmailMessage:
    parsed = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
    assert isinstance(parsed, EmailMessage)  # noqa: S101 - policy.default makes one
    return parsed


def _page(title: str, body: str) -> str:
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
        f"</title></head><body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )


def _part(message: EmailMessage, subtype: str) -> str | None:
    part = message.get_body(preferencelist=(subtype,))
    return None if part is None else str(part.get_content())


class DevMailboxController(Controller):
    """The messages in the development SMTP sink, newest first, each rendered."""

    path = "/dev/mailbox"
    include_in_schema = False
    guards = [dev_pages_only]  # noqa: RUF012 - Litestar's declaration style

    @get("/", media_type=MediaType.HTML)
    async def list_messages(self, keel: KeelDep) -> str:
        """A table of the newest messages: date, recipients, subject."""
        directory = mail_dir(keel.settings.devstack.data_dir)
        names = sorted((p.name for p in directory.glob("*.eml")), reverse=True)[:MAX_LISTED]
        rows = []
        for name in names:
            message = _read(directory / name)
            cells = "".join(
                f"<td>{html.escape(str(message.get(h, '')))}</td>" for h in _HEADERS[:-1]
            )
            subject = html.escape(str(message.get("Subject", "")))
            rows.append(f"<tr>{cells}<td><a href='mailbox/{name}'>{subject}</a></td></tr>")
        head = "".join(f"<th>{h}</th>" for h in _HEADERS)
        table = f"<table><tr>{head}</tr>{''.join(rows)}</table>" if rows else "<p>No mail.</p>"
        return _page(f"Dev mailbox ({len(names)})", table)

    @get("/{name:str}", media_type=MediaType.HTML)
    async def show_message(self, keel: KeelDep, name: FromPath[str]) -> str:
        """One message: its headers, its HTML part rendered and its text part."""
        path = mail_dir(keel.settings.devstack.data_dir) / name
        if not _NAME.fullmatch(name) or not path.is_file():
            raise NotFoundError("message not found", details={"name": name[:64]})
        message = _read(path)
        heads = "".join(
            f"<dt>{h}</dt><dd>{html.escape(str(message.get(h, '')))}</dd>" for h in _HEADERS
        )
        rendered = _part(message, "html")
        text = _part(message, "plain")
        body = f"<dl>{heads}</dl><p><a href='../mailbox'>All messages</a></p>"
        if rendered is not None:
            # Our own templates' output (autoescaped); the API's CSP blocks any script.
            body += f"<h2>HTML</h2><div class='mail'>{rendered}</div>"
        if text is not None:
            body += f"<h2>Text</h2><pre>{html.escape(text)}</pre>"
        return _page(str(message.get("Subject", name)), body)
