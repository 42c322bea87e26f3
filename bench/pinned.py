"""Diagnostic, not part of `python -m bench`: one service worker pinned to core 0 (load generator and
fake model on core 1) answering bursts of the same q2a, for before/after comparisons of CPU per
request that a single bench burst is too noisy for.

Rounds alternate a burst from 1,000 fresh connections and a burst over the connections kept from
the previous round, so connection set-up (≈ 0.14 ms a request on the 2-core bench machine) can be
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
import tempfile

import aiohttp

from bench.concurrency import KEY, LATENCY, N, OFFLINE_QUESTION, QUESTION, ROOT, _burst, _cpu_s, _port, _wait, stop


def _pinned(core: int):
    return lambda: os.sched_setaffinity(0, {core})


async def main(mode: str, rounds: int, spy: str | None) -> None:
    llm_port, port = _port(), _port()
    env = {**os.environ, "TABLETALK_HOME": tempfile.mkdtemp(prefix="tt-pinned-"), "TABLETALK_ADMIN_KEY": KEY,
           "OPENAI_BASE_URL": f"http://127.0.0.1:{llm_port}/v1", "OPENAI_API_KEY": "x", "TABLETALK_LOG_LEVEL": "WARNING",
           "PYTHONPATH": str(ROOT)}
    fake = subprocess.Popen([sys.executable, "-m", "tests.fakes.openai_server", "--port", str(llm_port),
                             "--latency", str(LATENCY)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, preexec_fn=_pinned(1))
    service = subprocess.Popen([sys.executable, "-m", "tabletalk.adapters.cli", "serve", "--port", str(port),
                                "--workers", "1"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, preexec_fn=_pinned(0))
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
            url = f"http://127.0.0.1:{port}/api/v1/single-turn/q2a"
            body = {"datasource_id": ds, "question": QUESTION if mode == "llm" else OFFLINE_QUESTION}
            await _burst(kept, url, headers, body, N)  # warm-up, and the connections later rounds reuse
            if spy:
                recorder = subprocess.Popen(["py-spy", "record", "--pid", str(service.pid), "--format", "raw", "-o", spy,
                                             "--rate", "500", "--nonblocking", "--gil"],
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                await asyncio.sleep(1.5)
            for n in range(rounds):
                fresh = n % 2 == 0
                cpu0 = _cpu_s(service.pid)
                if fresh:
                    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=N), timeout=timeout) as s:
                        _, errors = await _burst(s, url, headers, body, N)
                else:
                    _, errors = await _burst(kept, url, headers, body, N)
                cpu = (_cpu_s(service.pid) - cpu0) / N * 1000
                print(f"{'fresh ' if fresh else 'reused'} connections: {cpu:.3f} ms service CPU per q2a, {errors} errors",
                      flush=True)
                await asyncio.sleep(0.5)
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
