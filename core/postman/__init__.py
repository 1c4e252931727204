"""``keel export postman``: a Postman v2.1 collection and environment from the OpenAPI
document, with the requests in an order that runs top to bottom against ``keel run``
seeded by ``keel demo`` (see docs/postman.md)."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from core.postman._collection import SAMPLE_FILE, CollectionBuilder, environment

__all__ = ["COLLECTION_FILE", "ENVIRONMENT_FILE", "SAMPLE_FILE", "build", "write"]

COLLECTION_FILE = "keel.postman_collection.json"
ENVIRONMENT_FILE = "keel-local.postman_environment.json"
# A 1x1 PNG: the upload requests send it, and an image gets a thumbnail.
_SAMPLE_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC"
)


def build(
    document: Mapping[str, Any], base_url: str, **values: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The collection and the "Local" environment for ``document``.

    Args:
        document: the OpenAPI document (``app.openapi_schema.to_schema()``, JSON types).
        base_url: the server's address, e.g. ``http://127.0.0.1:8000``.
        values: environment values to start with instead of the defaults
            (e.g. ``demoPassword``).
    """
    name = str((document.get("info") or {}).get("title") or "keel")
    collection = CollectionBuilder(document, name=name).collection()
    return collection, environment(collection, base_url, **values)


def write(document: Mapping[str, Any], out: Path, base_url: str, **values: str) -> list[Path]:
    """Write the collection, the environment and the sample upload into ``out``."""
    collection, env = build(document, base_url, **values)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, data in ((COLLECTION_FILE, collection), (ENVIRONMENT_FILE, env)):
        path = out / name
        path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        written.append(path)
    sample = out / SAMPLE_FILE
    sample.write_bytes(_SAMPLE_PNG)
    return [*written, sample]
