"""The uploads plugin class: files and thumbnails."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from core import Job, Plugin, hookimpl

if TYPE_CHECKING:
    import odmantic


class UploadsPlugin(Plugin):
    """``/api/uploads``: files streamed in, type-sniffed, stored; image thumbnails.

    Essential, on by default; ``[plugins] disabled = ["uploads"]`` switches it off. Its
    settings are the ``[uploads]`` table.
    """

    name = "uploads"
    essential: ClassVar[Literal["always", "default"] | None] = "default"
    requires: ClassVar[tuple[str, ...]] = ("accounts",)

    @hookimpl
    def register_routes(self) -> Sequence[Any]:
        from plugins.uploads.routes import route_handlers  # noqa: PLC0415 - Litestar lazily

        return route_handlers(self.app_settings.uploads)

    @hookimpl
    def register_models(self) -> Sequence[type[odmantic.Model]]:
        from plugins.uploads.documents import MODELS  # noqa: PLC0415

        return MODELS

    @hookimpl
    def register_jobs(self) -> Sequence[Job]:
        from plugins.uploads.jobs import jobs  # noqa: PLC0415

        return jobs(self.app_settings.uploads)
