"""The ``serve`` fixture of the realtime tests (helpers in ``_realtime_helpers``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import uvicorn
from _realtime_helpers import FAST, RtFixturePlugin, Serve, Served, free_port


@pytest.fixture
def serve(keel_app_factory: Any) -> Serve:
    """``async with serve(**overrides) as served``: realtime + the fixture plugin, served."""

    @asynccontextmanager
    async def build(
        overrides: dict[str, Any] | None = None, plugins: tuple[str, ...] = (), **kw: Any
    ) -> AsyncIterator[Served]:
        async with keel_app_factory(
            plugins=["realtime", *plugins],
            extra=(RtFixturePlugin,),
            overrides={**FAST, **(overrides or {})},
            **kw,
        ) as env:
            port = free_port()
            config = uvicorn.Config(
                env.app, host="127.0.0.1", port=port, lifespan="off", log_level="warning"
            )
            server = uvicorn.Server(config)
            task = asyncio.create_task(server.serve())
            while not server.started:
                if task.done():
                    task.result()
                await asyncio.sleep(0.01)
            try:
                yield Served(env, server, port)
            finally:
                server.should_exit = True
                await task

    return build
