"""Bare one-handler apps the benchmarks compare keel against."""

from __future__ import annotations

from fastapi import FastAPI
from litestar import Litestar, get


@get("/health/live", sync_to_thread=False)
def live() -> dict[str, str]:
    return {"status": "ok"}


litestar_app = Litestar(route_handlers=[live])

fastapi_app = FastAPI()


@fastapi_app.get("/health/live")
async def fastapi_live() -> dict[str, str]:
    return {"status": "ok"}
