"""The OpenAPI pages' scripts and styles, served by keel from the ``offapi`` package.

Litestar's Swagger UI and Scalar pages load their JS and CSS from a CDN by default: without
internet ``/schema`` is a blank page, and the pages' Content-Security-Policy has to trust
the CDN. Here both pages load ``/schema/assets/<offapi version>/<file>`` instead, read
from the files the ``offapi`` wheel ships (offapi 0.1.4: Swagger UI 5.33.1 and Scalar's
``@scalar/api-reference`` 1.74.0 standalone bundle). The version in the URL changes with
the files, so browsers may cache them for good.

The package is located through its metadata, not imported: importing ``offapi`` reads
every bundled file into memory to build its own page templates, which keel doesn't use.
"""

from __future__ import annotations

from importlib.metadata import distribution
from pathlib import Path

from litestar import Response, Router, get
from litestar.datastructures import CacheControlHeader
from litestar.exceptions import NotFoundException
from litestar.openapi.plugins import OpenAPIRenderPlugin, ScalarRenderPlugin, SwaggerRenderPlugin
from litestar.params import FromPath
from litestar.response import File

__all__ = ["docs_router", "render_plugins"]

_PACKAGE = "offapi"
_FILES = {  # name in the URL: (file in the offapi package, media type)
    "swagger-ui-bundle.js": ("swagger_bundle.js", "text/javascript"),
    "swagger-ui-standalone-preset.js": ("swagger_preset.js", "text/javascript"),
    "swagger-ui.css": ("swagger_style.css", "text/css"),
    "scalar-api-reference.js": ("scalar.js", "text/javascript"),
}
_SCALAR_CSS = "scalar.css"
"""Litestar's Scalar page links a theme stylesheet (its default is on a CDN); Scalar's
bundle injects its own styles, so keel serves an empty one rather than patch the page."""
_FAVICON = "<link rel='icon' href='data:,'>"
"""No icon: Litestar's default is fetched from a CDN, and without a link the browser asks
for ``/favicon.ico``, a 404."""
_SCALAR_OPTIONS = {
    "withDefaultFonts": False,  # else fetched from Scalar's font host
    "proxyUrl": "",  # "Test Request" goes straight to keel, not through Scalar's proxy
    "telemetry": False,
    "agent": {"disabled": True},  # "Ask AI" talks to Scalar's service
}
"""Scalar's defaults reach for Scalar's services, which ``DOCS_CSP`` blocks anyway."""
_CACHE = CacheControlHeader(public=True, max_age=365 * 24 * 3600, immutable=True)


def _assets_url(path: str) -> str:
    return f"{path}/assets/{distribution(_PACKAGE).version}"


def render_plugins(path: str) -> list[OpenAPIRenderPlugin]:
    """Swagger UI (the default, also at ``path`` itself) and Scalar, using keel's assets.

    Args:
        path: where the OpenAPI pages are mounted (``/schema``).
    """
    assets = _assets_url(path)
    return [
        SwaggerRenderPlugin(
            js_url=f"{assets}/swagger-ui-bundle.js",
            css_url=f"{assets}/swagger-ui.css",
            standalone_preset_js_url=f"{assets}/swagger-ui-standalone-preset.js",
            favicon=_FAVICON,
        ),
        ScalarRenderPlugin(
            js_url=f"{assets}/scalar-api-reference.js",
            css_url=f"{assets}/{_SCALAR_CSS}",
            options=_SCALAR_OPTIONS,
            favicon=_FAVICON,
        ),
    ]


def docs_router(path: str) -> Router:
    """The router at ``path`` serving the assets; Litestar adds the pages to it.

    Raises:
        FileNotFoundError: the ``offapi`` package lacks one of the files (a broken install).
    """
    dist = distribution(_PACKAGE)
    files: dict[str, tuple[Path, str]] = {}
    for name, (packaged, media_type) in _FILES.items():
        file = Path(str(dist.locate_file(f"{_PACKAGE}/{packaged}")))
        if not file.is_file():
            raise FileNotFoundError(f"{_PACKAGE} {dist.version} lacks {packaged}: {file}")
        files[name] = (file, media_type)

    @get(
        f"/assets/{dist.version}/{{name:str}}",
        include_in_schema=False,
        sync_to_thread=False,
        cache_control=_CACHE,
    )
    def asset(name: FromPath[str]) -> Response[bytes] | File:
        if name == _SCALAR_CSS:
            return Response(b"", media_type="text/css")
        if name not in files:
            raise NotFoundException(f"no OpenAPI page asset {name!r}")
        file, media_type = files[name]
        return File(file, filename=name, media_type=media_type, content_disposition_type="inline")

    return Router(path, route_handlers=[asset], include_in_schema=False)
