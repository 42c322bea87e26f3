"""Diagnostic, not part of `python -m bench`: one service worker pinned to core 0 (load generator and
fake model on core 1) answering bursts of the same q2a, for before/after comparisons of CPU per
request that a single bench burst is too noisy for.

Rounds alternate a burst from 1,000 fresh connections and a burst over the connections kept from
the previous round, so connection set-up (0.1-0.2 ms a request on the 2-core bench machine, closing not counted) can be
told from the rest. `--spy FILE` records the worker with py-spy (`--gil`: samples of the thread
holding the GIL, so a wait for it is not counted as work) in raw format.

    python -m bench.pinned --mode llm --rounds 8 [--spy /tmp/llm.txt]

Run two checkouts' services with the same bench: a second worktree with its own venv
(`pip install --no-deps -e` there), and that venv's python running this module from this checkout.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys

import aiohttp

from bench.concurrency import (KEY, LATENCY, N, OFFLINE_QUESTION, QUESTION, ROOT, _cpu_s, _measured, _on_cores,
                               _port, _wait, client_burst, service_env, stop)


async def main(mode: str, rounds: int, spy: str | None) -> None:
    llm_port, port = _port(), _port()
    env = service_env(llm_port)
    fake = subprocess.Popen([sys.executable, "-m", "tests.fakes.openai_server", "--port", str(llm_port),
                             "--latency", str(LATENCY)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, preexec_fn=_on_cores({1}))
    service = subprocess.Popen([sys.executable, "-m", "tabletalk.adapters.cli", "serve", "--port", str(port),
                                "--workers", "1"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, preexec_fn=_on_cores({0}))
    os.sched_setaffinity(0, {1})
    recorder = None
    try:
        await _wait(f"http://127.0.0.1:{llm_port}/v1/models")
        await _wait(f"http://127.0.0.1:{port}/healthz")
        headers = {"Authorization": f"Bearer {KEY}"}
        timeout = aiohttp.ClientTimeout(total=900)
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=N), timeout=timeout) as kept:
            async with kept.get(f"http://127.0.0.1:{port}/api/v1/datasources", headers=headers) as r:
                ds = (await r.json())["items"][0]["id"]
            path = "/api/v1/single-turn/q2a"
            url = f"http://127.0.0.1:{port}{path}"
            body = {"datasource_id": ds, "question": QUESTION if mode == "llm" else OFFLINE_QUESTION}
            await client_burst(kept, url, headers, body, N)  # warm-up, and the connections later rounds reuse
            if spy:
                recorder = subprocess.Popen(["py-spy", "record", "--pid", str(service.pid), "--format", "raw", "-o", spy,
                                             "--rate", "500", "--nonblocking", "--gil"],
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                await asyncio.sleep(1.5)
            for n in range(rounds):
                fresh = n % 2 == 0
                if fresh:  # as bench/concurrency measures a burst (their closing is not in the figure)
                    _, cpu, _, _, errors = await _measured(lambda: _cpu_s(service.pid), port, path, headers, body)
                else:
                    cpu0 = _cpu_s(service.pid)
                    _, errors = await client_burst(kept, url, headers, body, N)
                    cpu = (_cpu_s(service.pid) - cpu0) / N * 1000
                    await asyncio.sleep(0.5)
                print(f"{'fresh ' if fresh else 'reused'} connections: {cpu:.3f} ms service CPU per q2a, {errors} errors",
                      flush=True)
    finally:
        if recorder is not None:
            recorder.send_signal(signal.SIGINT)
            recorder.wait(30)
        stop(service, fake)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.pinned")
    parser.add_argument("--mode", choices=("llm", "offline"), default="llm")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--spy", help="write a py-spy raw profile of the worker here")
    args = parser.parse_args()
    asyncio.run(main(args.mode, args.rounds, args.spy))
