"""Time from ``keel run`` to ``/health/ready`` = 200 (target: within 5 s).

Runs ``keel run`` in a fresh temporary directory (so the embedded services start on
empty data), then again on the same directory (data kept), and prints both.

    .venv/bin/python bench/startup.py [--runs 3]
"""

from __future__ import annotations

import argparse
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._servers import ROOT, base_env, free_port


def time_to_ready(workdir: Path, port: int, timeout: float = 60.0) -> float:
    keel = str(Path(sys.executable).with_name("keel"))
    env = base_env({"KEEL_SERVER__PORT": str(port)})
    start = time.perf_counter()
    proc = subprocess.Popen(
        [keel, "run"], cwd=workdir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        while time.perf_counter() - start < timeout:
            try:
                url = f"http://127.0.0.1:{port}/health/ready"
                with urllib.request.urlopen(url, timeout=1) as resp:
                    if resp.status == 200:
                        return time.perf_counter() - start
            except OSError:
                time.sleep(0.02)
        raise TimeoutError(f"keel run not ready within {timeout} s")
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        shutil.copy(ROOT / "config.toml", workdir / "config.toml")
        times = [time_to_ready(workdir, free_port()) for _ in range(args.runs)]
    print("keel run -> /health/ready = 200")
    print(f"  first run (empty ./var):  {times[0]:.2f} s")
    for i, t in enumerate(times[1:], start=2):
        print(f"  run {i} (data kept):       {t:.2f} s")
    best = min(times)
    print(f"target <= 5 s: {'PASS' if max(times) <= 5.0 else 'FAIL'} (best {best:.2f} s)")


if __name__ == "__main__":
    main()
