import asyncio, secrets, tempfile, subprocess, sys, json
from pathlib import Path
from bson import ObjectId
from bench.realtime import CONFIG, servers, _keel_peer
from bench._servers import base_env
from bench._realtime_clients import open_many, Peer
from core.devstack import DevStack
from core.pluginhost import discover, plugin_settings_types
from core.settings import load_settings

async def go(peer):
    uids = list(peer.tokens)[:2]
    conns = await open_many(peer, uids)
    await conns[0].ws.send(peer.typing(conns[1].uid))
    await asyncio.sleep(1)
    print("queue", conns[1].typing.qsize())
    await conns[0].ws.send(json.dumps({"event":"ping"}))
    print(await asyncio.wait_for(conns[0].ws.recv(), 2))

installed = discover()
secret = secrets.token_urlsafe(48)
with tempfile.TemporaryDirectory() as tmp:
    config = Path(tmp) / "config.toml"; config.write_text(CONFIG)
    settings = load_settings(config, environ={"KEEL_AUTH__JWT_SECRET": secret}, plugin_types=plugin_settings_types(installed))
    with DevStack(settings, [], data_dir=Path(tmp)/"s", ephemeral=True) as dev:
        env = base_env({**dev.environ(), "KEEL_CONFIG": str(config), "KEEL_AUTH__JWT_SECRET": secret, "KEEL_DATABASE__NAME": "bench_realtime"})
        uids=[str(ObjectId()) for _ in range(4)]
        with servers("keel", env) as procs:
            peer = _keel_peer([p for p,_ in procs], dev.overrides["database.url"], "bench_realtime", settings, uids, [])
            asyncio.run(go(peer))
