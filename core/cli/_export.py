"""``keel export postman``: the API as a Postman collection, from the OpenAPI document."""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

import click

from core.cli._common import config_option, fail, load
from core.errors import ConfigError, PluginError


@click.group("export")
def export_group() -> None:
    """Export descriptions of the API for other tools."""


@export_group.command("postman")
@config_option
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    default=".",
    show_default=True,
    help="Directory for the collection, the environment and the sample upload.",
)
@click.option(
    "--base-url", default=None, help="The environment's baseUrl (default: [server] host:port)."
)
def postman_command(config: str | None, out: str, base_url: str | None) -> None:
    """Write a Postman v2.1 collection and a "Local" environment.

    Generated from the OpenAPI document of the configured app (no server, no database
    needed). Run it top to bottom against `keel run` seeded by `keel demo`.
    """
    from core import postman  # noqa: PLC0415 - keeps `keel --help` fast

    document, values, default_url = _document(config)
    written = postman.write(document, Path(out), base_url or default_url, **values)
    for path in written:
        click.echo(f"wrote {path}")


def _document(config: str | None) -> tuple[dict[str, Any], dict[str, str], str]:
    """The OpenAPI document (JSON types), environment values and the server's URL."""
    from litestar.serialization import encode_json  # noqa: PLC0415

    from core.app import create_app  # noqa: PLC0415

    settings, installed = load(config)
    if not settings.auth.jwt_secret:
        # The document does not depend on the key, and `keel run` makes its own: a
        # throwaway one lets the export work on a development config as it is.
        settings, installed = load(config, overrides={"auth.jwt_secret": secrets.token_urlsafe(48)})
    try:
        app = create_app(settings, installed=installed)
    except (ConfigError, PluginError) as exc:
        fail(exc)
    document = json.loads(encode_json(app.openapi_schema.to_schema()))
    demo = settings.plugins.tables.get("bookings")
    password = getattr(demo, "demo_password", None)
    values = {"demoPassword": password} if isinstance(password, str) else {}
    host = settings.server.host
    if host in ("0.0.0.0", "::", ""):  # noqa: S104 - what a client must not dial
        host = "127.0.0.1"
    return document, values, f"http://{host}:{settings.server.port}"
