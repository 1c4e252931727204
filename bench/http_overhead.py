"""GET /health/live through keel's whole stack vs a bare Litestar and a bare FastAPI app.

Each server runs as one uvicorn process; one load generator measures all three in the
same run, in rotating order, several rounds; the table shows the median round.
Target (issue 2): keel >= 70% of bare Litestar's req/s, with metrics on (issue 17: keel
records every request into prometheus-client's multiprocess files); "keel, metrics off"
shows what recording costs in the same run.

    .venv/bin/python bench/http_overhead.py [--seconds 3] [--rounds 3] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import secrets
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._load import Result, measure, table
from bench._servers import base_env, free_port, keel_argv, process, uvicorn_argv
from core.devstack import DevStack
from core.pluginhost import discover, plugin_settings_types
from core.settings import load_settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    installed = discover()
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(None, environ={}, plugin_types=plugin_settings_types(installed))
        with DevStack(settings, [], data_dir=Path(tmp), ephemeral=True) as stack:
            env = base_env(
                {
                    **stack.environ(),
                    "KEEL_CONFIG": str(Path(__file__).resolve().parent.parent / "config.toml"),
                    "KEEL_APP__ENV": "production",
                    "KEEL_AUTH__JWT_SECRET": secrets.token_urlsafe(48),
                    "KEEL_DATABASE__NAME": "bench_http",
                }
            )
            metrics_dir = Path(tmp) / "metrics"
            env["KEEL_METRICS__DIR"] = str(metrics_dir)
            names = ["keel", "keel, metrics off", "bare litestar", "bare fastapi"]
            ports = {name: free_port() for name in names}
            envs = dict.fromkeys(names, env)
            envs["keel, metrics off"] = {**env, "KEEL_METRICS__ENABLED": "false"}
            argv = {
                "keel": keel_argv(ports["keel"]),
                "keel, metrics off": keel_argv(ports["keel, metrics off"]),
                "bare litestar": uvicorn_argv(
                    "bench._bare_apps:litestar_app", ports["bare litestar"]
                ),
                "bare fastapi": uvicorn_argv("bench._bare_apps:fastapi_app", ports["bare fastapi"]),
            }
            with contextlib.ExitStack() as servers:
                for name, port in ports.items():
                    servers.enter_context(
                        process(argv[name], envs[name], f"http://127.0.0.1:{port}/health/live")
                    )
                rounds: dict[str, list[Result]] = {name: [] for name in ports}
                for i in range(args.rounds):
                    for name in names[i % len(names) :] + names[: i % len(names)]:
                        result = asyncio.run(
                            measure(
                                name,
                                ports[name],
                                "/health/live",
                                concurrency=args.concurrency,
                                seconds=args.seconds,
                            )
                        )
                        rounds[name].append(result)
    medians = [sorted(rs, key=lambda r: r.rps)[len(rs) // 2] for rs in rounds.values()]
    print(
        f"GET /health/live, {args.concurrency} connections, {args.rounds} rounds of "
        f"{args.seconds:.0f} s, median round"
    )
    print(table(medians, baseline="bare litestar"))
    keel = next(r for r in medians if r.name == "keel").rps
    bare = next(r for r in medians if r.name == "bare litestar").rps
    ratio = keel / bare
    print(
        f"\nkeel / bare litestar = {ratio:.0%} (target >= 70%): "
        f"{'PASS' if ratio >= 0.70 else 'FAIL'}"
    )
    print(f"spread of keel rounds: {statistics.pstdev([r.rps for r in rounds['keel']]):.0f} req/s")
    off = next(r for r in medians if r.name == "keel, metrics off").rps
    print(f"keel with metrics / keel without = {keel / off:.0%}")


if __name__ == "__main__":
    main()
