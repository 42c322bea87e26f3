"""Diagnostic, not part of `python -m bench`: instructions the service executes per q2a, counted
by valgrind's callgrind — within 1-3 % run after run whatever else the machine does (what varies
is how many requests share a loop iteration), where CPU time varies ±20 % on the shared machine. Use it to compare two versions
of the code; it counts user-space instructions only (not the kernel's socket work), so it is a
relative figure, not the bench's ms.

The service runs under callgrind with instrumentation off (start-up at about 5× slower), answers a
warm-up, then `callgrind_control` switches counting on for N requests (50 at a time over kept
connections, a fake model answering in 10 ms) and off again.

    python -m bench.instructions --mode offline|llm [-n 200] [--floor]

`--floor`: bench/floor_server.py instead of the service (the HTTP work alone). Seen on the
session-29 machine: floor 0.29 M (offline) / 0.57 M (LLM path); the service 0.89 M / 1.96 M
(from 1.62 M / 2.86 M before that session's remembered readings and hints); session 30:
0.83 M / 1.86 M. What is batched by time (the query history: results gathered for 50 ms) is
overstated here: slowed down about fifty-fold, a batch holds a few rows instead of dozens, so
its per-transaction cost lands on fewer answers than in the bench.
"""
from __future__ import annotations

import argparse
import asyncio
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import aiohttp

from bench.concurrency import KEY, OFFLINE_QUESTION, QUESTION, ROOT, _port, _wait, client_burst, service_env, stop


def _service_command(mode: str, port: int, llm_port: int, floor: bool) -> list[str]:
    if floor:
        return ["-m", "bench.floor_server", "--port", str(port),
                *(["--llm", f"http://127.0.0.1:{llm_port}/v1"] if mode == "llm" else [])]
    return ["-m", "tabletalk.adapters.cli", "serve", "--port", str(port), "--workers", "1"]


async def main(mode: str, n: int, at_once: int, floor: bool) -> float:
    llm_port, port = _port(), _port()
    env = {**service_env(llm_port), "PYTHONHASHSEED": "0"}
    out = Path(tempfile.mkdtemp(prefix="tt-callgrind-"))
    fake = subprocess.Popen([sys.executable, "-m", "tests.fakes.openai_server", "--port", str(llm_port),
                             "--latency", "0.01"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    service = subprocess.Popen(["valgrind", "--tool=callgrind", "--instr-atstart=no",
                                f"--callgrind-out-file={out}/callgrind.out.%p", sys.executable,
                                *_service_command(mode, port, llm_port, floor)],
                               cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        await _wait(f"http://127.0.0.1:{llm_port}/v1/models")
        await _wait(f"http://127.0.0.1:{port}/healthz", timeout=900)
        headers = {"Authorization": f"Bearer {KEY}"}
        connector = aiohttp.TCPConnector(limit=at_once)
        async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=3000)) as s:
            async with s.get(f"http://127.0.0.1:{port}/api/v1/datasources", headers=headers) as r:
                ds = (await r.json())["items"][0]["id"]
            url = f"http://127.0.0.1:{port}/api/v1/single-turn/q2a"
            body = {"datasource_id": ds, "question": QUESTION if mode == "llm" else OFFLINE_QUESTION}
            await client_burst(s, url, headers, body, at_once * 2)  # warm-up: caches, connections
            await asyncio.sleep(1)
            control = ["callgrind_control"]
            subprocess.run([*control, "-z", str(service.pid)], check=True, capture_output=True)
            subprocess.run([*control, "-i", "on", str(service.pid)], check=True, capture_output=True)
            done = errors = 0
            while done < n:
                _, failed = await client_burst(s, url, headers, body, at_once)
                done, errors = done + at_once, errors + failed
            subprocess.run([*control, "-i", "off", str(service.pid)], check=True, capture_output=True)
            subprocess.run([*control, "-d", str(service.pid)], check=True, capture_output=True)
        dumps = [f for f in out.glob("callgrind.out.*.1")]
        total = max(int(re.search(r"^totals: (\d+)", f.read_text(), re.M).group(1)) for f in dumps)
        per = total / done / 1e6
        print(f"{'floor' if floor else 'service'} {mode}: {per:.3f} M instructions per q2a "
              f"({done} requests, {errors} errors; profile {dumps[0]})")
        return per
    finally:
        stop(service, fake)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.instructions")
    parser.add_argument("--mode", choices=("llm", "offline"), default="offline")
    parser.add_argument("-n", type=int, default=200)
    parser.add_argument("--at-once", type=int, default=50)
    parser.add_argument("--floor", action="store_true", help="count bench/floor_server.py instead")
    args = parser.parse_args()
    asyncio.run(main(args.mode, args.n, args.at_once, args.floor))
