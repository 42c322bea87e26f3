"""1,000 concurrent q2a requests answered through the LLM path (a fake OpenAI-compatible server
answering each call in 200 ms), then 1,000 answered offline by the built-in engine. The service, the
fake LLM and the load run as three processes.

Run twice: as `tabletalk serve` starts by default (one worker per core), all processes sharing the
machine's cores; then one worker with a core of its own and the load generator and fake model on
the others — there the loop lag is the service's own stalls, not time the scheduler gave others.

Service CPU per request is read from /proc (the service and its workers) around each burst: on a
shared 2-core machine it is the figure that does not depend on what else runs. It is the median of
BURSTS bursts, each from a thousand fresh connections, with the range beside it (one burst's figure
varies by ±20 % on the shared machine). The largest
event-loop lag is the service's own measurement (`GET /healthz`).

Ideal wall = the LLM latency times the LLM calls one question needs in sequence (SQL, then the
answer sentence): what an infinitely fast service would take. Also reports errors and the
service's memory high-water mark (ru_maxrss of the service process)."""
from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

import aiohttp

from bench import lean_load
from tabletalk.adapters.rest.quiet_gc import QUIET as QUIET_GC

ROOT = Path(__file__).resolve().parent.parent
KEY = "bench-admin-key-0123456789"
N = int(os.environ.get("BENCH_CONCURRENCY_N", "1000"))
LATENCY, LLM_CALLS = 0.2, 2
BURSTS = 3  # CPU per request is the median of this many bursts: one burst's figure varies ±20 % here
SETTLE = 0.5  # seconds between bursts: the last one's connections closed, well under QUIET_GC
LAG_WINDOW = 10  # seconds of loop-lag maxima /healthz reports (adapters/rest/loop_lag.py)
QUESTION = "Which zorblax segments churned?"  # unmappable for the built-in engine: goes to the LLM
OFFLINE_QUESTION = "How many orders are there?"  # the built-in engine answers it without the model
# Offline questions that never repeat (the engine's readings are remembered per question): what a
# burst of different askers costs. Each burst takes numbers no earlier burst used.
DISTINCT = ("How many orders have an id above {n}?", "How many products cost more than {n}?",
            "How many order items have a quantity of at least {n}?")
_distinct = itertools.count()


def distinct_questions(n: int) -> list[str]:
    return [DISTINCT[i % len(DISTINCT)].format(n=i // len(DISTINCT) + 1) for i in itertools.islice(_distinct, n)]


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _wait(url: str, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as s:
        while time.monotonic() < deadline:
            try:
                async with s.get(url) as r:
                    if r.status < 500:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


def _cpu_s(pid: int) -> float:
    """User + system CPU of a process and of its reaped children (workers), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = sum(int(fields[i]) for i in (11, 12, 13, 14))  # utime, stime, cutime, cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def _family_cpu_s(pid: int) -> float:
    """CPU of the service and of every live process it started (`--workers`)."""
    total = _cpu_s(pid)
    for child in Path("/proc").iterdir():
        if child.name.isdigit():
            try:
                ppid = int((child / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            if ppid == pid:
                total += _cpu_s(int(child.name))
    return total


def _ok(status: int, body: bytes) -> bool:
    return status == 200 and json.loads(body).get("status") == "success"


def _burst(port: int, path: str, headers: dict, body, n: int) -> tuple[float, int]:
    """n requests at once, each from a fresh connection (as n new clients would open); `body` is one
    JSON body for all, or a function giving n of them: (wall seconds, errors). The load generator is
    bench/lean_load.py, so the CPU of the 2-core machine is the service's."""
    requests = ([lean_load.request(port, path, headers, b) for b in body(n)] if callable(body)
                else [lean_load.request(port, path, headers, body)] * n)
    return lean_load.burst(port, requests, _ok)


async def client_burst(s: aiohttp.ClientSession, url: str, headers: dict, body: dict, n: int) -> tuple[float, int]:
    """n requests at once through an aiohttp client session (its connections kept and reused): for
    benches that measure something other than the service's CPU per fresh request."""
    async def one() -> bool:
        async with s.post(url, headers=headers, json=body) as r:
            return r.status == 200 and (await r.json()).get("status") == "success"

    t0 = time.perf_counter()
    results = await asyncio.gather(*(one() for _ in range(n)), return_exceptions=True)
    return time.perf_counter() - t0, sum(1 for r in results if r is not True)


async def _measured(service_cpu, port: int, path: str, headers: dict, body: dict, other_cpu=lambda: 0.0) -> tuple:
    """One burst of N requests, settled before the next: (wall s, service CPU ms per request, this
    load generator's, the fake model's, errors)."""
    cpu0, load0, other0 = service_cpu(), time.process_time(), other_cpu()
    wall, errors = _burst(port, path, headers, body, N)
    measured = (wall, (service_cpu() - cpu0) / N * 1000, (time.process_time() - load0) / N * 1000,
                (other_cpu() - other0) / N * 1000, errors)
    await asyncio.sleep(SETTLE)
    return measured


async def _lag_ms(port: int, workers: int) -> tuple[float, float]:
    """The largest loop lag and garbage-collection pause any worker saw in the last ten seconds:
    each fresh connection lands on one worker (SO_REUSEPORT), so ask over many, take the worst."""
    lags, pauses = [], []
    for _ in range(8 * workers):
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as s:
            async with s.get(f"http://127.0.0.1:{port}/healthz") as r:
                health = await r.json()
                lags.append(health.get("loop_lag_max_ms", float("nan")))
                pauses.append(health.get("gc_pause_max_ms", float("nan")))
    return max(lags), max(pauses)


def service_env(llm_port: int) -> dict:
    """The environment of a bench's service, fake model and floor: a fresh home, the model at llm_port."""
    return {**os.environ, "TABLETALK_HOME": tempfile.mkdtemp(prefix="tt-bench-"), "TABLETALK_ADMIN_KEY": KEY,
            "OPENAI_BASE_URL": f"http://127.0.0.1:{llm_port}/v1", "OPENAI_API_KEY": "x", "TABLETALK_LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(ROOT)}


def _on_cores(cores: set[int] | None):
    return (lambda: os.sched_setaffinity(0, cores)) if cores else None


async def _main(workers: int, own_core: bool = False) -> dict:
    """One configuration. `own_core`: one worker pinned to core 0, the fake model and this load
    generator to the other cores, so the service's loop lag is its own, not the scheduler's."""
    llm_port, port = _port(), _port()
    all_cores = os.sched_getaffinity(0)
    service_cores = {min(all_cores)} if own_core else None
    other_cores = (all_cores - service_cores) if own_core else None
    tag = "own core, 1 worker: " if own_core else ""
    env = service_env(llm_port)
    fake = subprocess.Popen([sys.executable, "-m", "bench.lean_model", "--port", str(llm_port), "--latency", str(LATENCY)],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            preexec_fn=_on_cores(other_cores))
    extra = ["--workers", str(workers)]
    service = subprocess.Popen([sys.executable, "-m", "tabletalk.adapters.cli", "serve", "--port", str(port), *extra],
                               cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               preexec_fn=_on_cores(service_cores))
    rows = [] if own_core else [{"metric": "service worker processes (`serve --workers`)", "value": workers, "unit": ""}]
    if own_core:
        os.sched_setaffinity(0, other_cores)
    try:
        await _wait(f"http://127.0.0.1:{llm_port}/v1/models")
        await _wait(f"http://127.0.0.1:{port}/healthz")
        headers = {"Authorization": f"Bearer {KEY}"}
        async with aiohttp.ClientSession() as s:
            async with s.get(f"http://127.0.0.1:{port}/api/v1/datasources", headers=headers) as r:
                ds = (await r.json())["items"][0]["id"]
        path = "/api/v1/single-turn/q2a"
        runs = [("LLM-path", QUESTION, LATENCY * LLM_CALLS), ("offline", OFFLINE_QUESTION, None)]
        if not own_core:
            runs.append(("offline distinct-question", distinct_questions, None))
        for label, question, ideal in runs:
            body = ((lambda n, q=question: [{"datasource_id": ds, "question": t} for t in q(n)]) if callable(question)
                    else {"datasource_id": ds, "question": question})
            for _ in range(3):  # warm-up: caches, connections, first-use imports — in every worker:
                _burst(port, path, headers, body, 1)  # many connections spread over the workers' sockets
                _burst(port, path, headers, body, 25 * workers)
            single = min([(_burst(port, path, headers, body, 1))[0] for _ in range(5)])
            # The service's lag window forgets the warm-up and the full collection it runs once the
            # warm-up has been quiet for QUIET_GC seconds (adapters/rest/quiet_gc.py): the figures
            # are the burst's own.
            await asyncio.sleep(LAG_WINDOW + QUIET_GC + 3)
            bursts = [await _measured(lambda: _family_cpu_s(service.pid), port, path, headers, body,
                                      lambda: _cpu_s(fake.pid)) for _ in range(BURSTS)]
            lag, gc_pause = await _lag_ms(port, workers)  # the largest over the bursts
            wall, cpu, load_cpu, fake_cpu = (median(b[k] for b in bursts) for k in range(4))
            errors = sum(b[4] for b in bursts)
            spread = f"{min(b[1] for b in bursts):.2f}-{max(b[1] for b in bursts):.2f}"
            goal_cpu = 1.0 if ideal else 0.5
            if own_core:
                floor = await _floor_cpu(llm_port if ideal else None, service_cores, env)
                rows += [
                    {"metric": f"{tag}{label} service CPU per q2a (median of {BURSTS} bursts; range {spread})",
                     "value": round(cpu, 2), "unit": "ms",
                     "baseline": f"{floor:.2f} ms floor (same HTTP work, nothing else)",
                     "ratio": round(cpu / floor, 2)},
                    {"metric": f"{tag}{label} largest event-loop lag", "value": lag, "unit": "ms",
                     "goal": "<= 50 ms", "met": lag <= 50},
                    {"metric": f"{tag}{label} longest garbage-collection pause", "value": gc_pause, "unit": "ms"},
                ]
                continue
            rows += [
                {"metric": f"{N} concurrent {label} q2a wall (median)", "value": round(wall, 2), "unit": "s",
                 "baseline": f"{(ideal or single):.2f} s {'model-bound ideal' if ideal else 'one request'}",
                 "ratio": round(wall / (ideal or single), 2)},
                {"metric": f"{label} single q2a latency", "value": round(single * 1000, 1), "unit": "ms"},
                {"metric": f"{label} service CPU per q2a (median of {BURSTS} bursts; range {spread})",
                 "value": round(cpu, 2), "unit": "ms",
                 "goal": f"<= {goal_cpu} ms", "met": cpu <= goal_cpu},
                {"metric": f"{label} errors", "value": errors, "unit": "requests", "goal": "0", "met": errors == 0},
                {"metric": f"{label} largest event-loop lag", "value": lag, "unit": "ms", "goal": "<= 50 ms",
                 "met": lag <= 50},
                {"metric": f"{label} longest garbage-collection pause", "value": gc_pause, "unit": "ms"},
                {"metric": f"{label} CPU per q2a of the load generator / the fake model (same cores)",
                 "value": f"{load_cpu:.2f} / {fake_cpu:.2f}", "unit": "ms"},
            ]
        if not own_core:
            rows.append({"metric": "service memory high-water (VmHWM)", "value": round(_rss_kb(service.pid) / 1024),
                         "unit": "MiB"})
    finally:
        os.sched_setaffinity(0, all_cores)
        stop(service, fake)
    return {"rows": rows}


def stop(*procs: subprocess.Popen) -> None:
    """SIGINT to each, then wait up to 10 s for each before killing it."""
    for p in procs:
        p.send_signal(signal.SIGINT)
    for p in procs:
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()


async def _floor_cpu(llm_port: int | None, cores: set[int], env: dict) -> float:
    """CPU per request of bench/floor_server.py (aiohttp in, the model transport out, no TableTalk
    work) on the service's core, under the same burst: what the HTTP work alone costs this machine."""
    port = _port()
    extra = ["--llm", f"http://127.0.0.1:{llm_port}/v1"] if llm_port else []
    floor = subprocess.Popen([sys.executable, "-m", "bench.floor_server", "--port", str(port), *extra], cwd=ROOT,
                             env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=_on_cores(cores))
    try:
        await _wait(f"http://127.0.0.1:{port}/healthz")
        path, body = "/api/v1/single-turn/q2a", {"datasource_id": "floor", "question": "q"}
        for _ in range(3):
            _burst(port, path, {}, body, 25)
        return median([(await _measured(lambda: _cpu_s(floor.pid), port, path, {}, body))[1] for _ in range(BURSTS)])
    finally:
        stop(floor)


def _rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def run(workers: int | None = None) -> dict:
    """`workers`: the service's worker processes (default: as `tabletalk serve`, one per core).
    Without `workers`, a second run gives one worker a core of its own (on machines with two or
    more), which tells the loop's own stalls from time the scheduler gave the load generator."""
    rows = asyncio.run(_main(workers or os.cpu_count() or 1))["rows"]
    if workers is None and len(os.sched_getaffinity(0)) >= 2:
        rows += asyncio.run(_main(1, own_core=True))["rows"]
    return {"rows": rows}


if __name__ == "__main__":
    for row in run(int(sys.argv[1]) if len(sys.argv) > 1 else None)["rows"]:
        print(row)
