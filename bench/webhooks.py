"""Webhook acknowledgement latency while 1,000 answers run: signed Slack, Telegram and Feishu
deliveries (each a real question for a bot) posted at a steady rate, first to an idle service (the
baseline), then while 1,000 concurrent q2a go through the model path (a fake model answering each
call in 200 ms). Goal: ack p99 < 100 ms under the burst.

Four processes, as in bench/concurrency.py: the service (`serve`, one worker per core unless told),
the fake model, the q2a load (this process), and a prober that runs the fake platforms
(tests/fakes) and times each delivery from its first byte sent to the 200 — open loop, so a slow
ack does not delay the next delivery's start and hide itself.

`python -m bench.webhooks [workers]`; BENCH_CONCURRENCY_N sets the burst, BENCH_WEBHOOKS_DUMP=file
writes every delivery's (start, platform, ms) for a closer look."""
from __future__ import annotations

import asyncio
import itertools
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from bench.concurrency import KEY, LATENCY, N, QUESTION, ROOT, _port, _wait, client_burst

INTERVAL = 0.02  # seconds between two deliveries (50 a second, the three platforms in turn)
IDLE_SECONDS = 4.0
SLACK_SECRET, TELEGRAM_SECRET, FEISHU_KEY, FEISHU_TOKEN = "bench-signing", "bench-tg-secret", "bench-encrypt", "bench-verify"
BOT_QUESTION = "How many orders are there?"  # answered by the built-in engine: each delivery's own answer stays light


# ---- the prober (its own process: `python -m bench.webhooks --prober`) ----

async def _prober() -> None:
    from tests.fakes.feishu_api import FakeFeishu
    from tests.fakes.slack_api import FakeSlack
    from tests.fakes.telegram_api import FakeTelegram

    async with FakeSlack() as slack, FakeTelegram() as tg, FakeFeishu() as fs:
        print(json.dumps({"slack": slack.api_url, "telegram": tg.api_url, "feishu": fs.domain}), flush=True)
        loop = asyncio.get_running_loop()
        ids = itertools.count(1)

        async def deliver(platform: str, hooks: dict) -> tuple[str, float, bool]:
            i = next(ids)
            t0 = time.perf_counter()
            if platform == "slack":
                event = {"type": "message", "channel_type": "im", "user": f"U{i % 7}", "text": BOT_QUESTION,
                         "channel": f"D{i % 7}", "ts": f"{i}.1"}
                ok = (await slack.send_event(hooks["slack"], SLACK_SECRET, event, event_id=f"Ev{i}")).status == 200
            elif platform == "telegram":
                update = tg.message(BOT_QUESTION, chat_id=100 + i % 7, user_id=100 + i % 7)
                ok = await tg.send_update(hooks["telegram"], TELEGRAM_SECRET, update) == 200
            else:
                event = fs.text_event(BOT_QUESTION, open_id=f"ou_{i % 7}", event_id=f"ev_{i}", token=FEISHU_TOKEN)
                ok = await fs.send_event(hooks["feishu"], event, encrypt_key=FEISHU_KEY) == 200
            return platform, (time.perf_counter() - t0) * 1000, ok, t0

        while line := await loop.run_in_executor(None, sys.stdin.readline):
            hooks = json.loads(line)  # a phase starts: deliver until the next line arrives
            stop = asyncio.ensure_future(loop.run_in_executor(None, sys.stdin.readline))
            sent, start = [], time.perf_counter()
            for k, platform in enumerate(itertools.cycle(("slack", "telegram", "feishu"))):
                delay = start + k * INTERVAL - time.perf_counter()
                if delay > 0:
                    done, _ = await asyncio.wait([stop], timeout=delay)
                    if done:
                        break
                elif stop.done():
                    break
                sent.append(asyncio.ensure_future(asyncio.wait_for(deliver(platform, hooks), 30)))
            results = await asyncio.gather(*sent, return_exceptions=True)
            acks = [r for r in results if isinstance(r, tuple)]
            print(json.dumps({"acks": [(p, ms) for p, ms, ok, _ in acks if ok],
                              "timeline": [(round(t0 - start, 3), p, round(ms, 1)) for p, ms, _, t0 in acks],
                              "errors": len(results) - sum(1 for _, _, ok, _ in acks if ok)}), flush=True)


# ---- the run ----

def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))] if ordered else float("nan")


def _phase(prober: subprocess.Popen, hooks: dict) -> None:
    prober.stdin.write(json.dumps(hooks) + "\n")
    prober.stdin.flush()


def _phase_end(prober: subprocess.Popen) -> dict:
    prober.stdin.write("stop\n")
    prober.stdin.flush()
    return json.loads(prober.stdout.readline())


async def _bots(s, base: str, headers: dict, ds: str, urls: dict) -> dict:
    channels = {
        "slack": {"bot_token": "xoxb-bench", "signing_secret": SLACK_SECRET, "api_base_url": urls["slack"]},
        "telegram": {"token": "123:bench", "secret_token": TELEGRAM_SECRET, "api_base_url": urls["telegram"]},
        "feishu": {"app_id": "cli_bench", "app_secret": "s", "verification_token": FEISHU_TOKEN,
                   "encrypt_key": FEISHU_KEY, "domain": urls["feishu"]},
    }
    for platform, channel in channels.items():
        async with s.post(f"{base}/api/v1/bots", headers=headers, json={
                "id": f"bench-{platform}", "name": platform, "datasource_ids": [ds], "channels": {platform: channel}}) as r:
            assert r.status == 201, await r.text()
    return {p: f"{base}/webhooks/{p}/bench-{p}" for p in channels}


async def _main(workers: int) -> dict:
    llm_port, port = _port(), _port()
    base = f"http://127.0.0.1:{port}"
    home = tempfile.mkdtemp(prefix="tt-hooks-")
    env = {**os.environ, "TABLETALK_HOME": home, "TABLETALK_ADMIN_KEY": KEY, "OPENAI_BASE_URL": f"http://127.0.0.1:{llm_port}/v1",
           "OPENAI_API_KEY": "x", "TABLETALK_LOG_LEVEL": "WARNING", "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-m", "tests.fakes.openai_server", "--port", str(llm_port),
                               "--latency", str(LATENCY)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL),
             subprocess.Popen([sys.executable, "-m", "tabletalk.adapters.cli", "serve", "--port", str(port),
                               "--workers", str(workers)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL),
             subprocess.Popen([sys.executable, "-m", "bench.webhooks", "--prober"], cwd=ROOT, env=env, text=True,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)]
    prober = procs[2]
    try:
        urls = json.loads(prober.stdout.readline())
        await _wait(f"http://127.0.0.1:{llm_port}/v1/models")
        await _wait(f"{base}/healthz")
        headers = {"Authorization": f"Bearer {KEY}"}
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=N),
                                         timeout=aiohttp.ClientTimeout(total=900)) as s:
            async with s.get(f"{base}/api/v1/datasources", headers=headers) as r:
                ds = (await r.json())["items"][0]["id"]
            hooks = await _bots(s, base, headers, ds, urls)
            url, body = f"{base}/api/v1/single-turn/q2a", {"datasource_id": ds, "question": QUESTION}
            _phase(prober, hooks)  # warm-up: every worker, both paths
            for _ in range(3):
                await client_burst(s, url, headers, body, 25 * workers)
            warm = _phase_end(prober)
            await asyncio.sleep(2)  # the warm-up's answers end
            _phase(prober, hooks)
            await asyncio.sleep(IDLE_SECONDS)
            idle = _phase_end(prober)
            await asyncio.sleep(2)
            _phase(prober, hooks)
            wall, q2a_errors = await client_burst(s, url, headers, body, N)
            loaded = _phase_end(prober)
            if os.environ.get("BENCH_WEBHOOKS_DUMP"):
                Path(os.environ["BENCH_WEBHOOKS_DUMP"]).write_text(json.dumps({"warm": warm, "idle": idle, "loaded": loaded}))
    finally:
        for p in (procs[1], procs[0], procs[2]):  # the service first: its answers in flight still reach the fakes
            p.send_signal(signal.SIGINT)
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(home, ignore_errors=True)
    return {"rows": _rows(workers, warm, idle, loaded, wall, q2a_errors)}


def _rows(workers: int, warm: dict, idle: dict, loaded: dict, wall: float, q2a_errors: int) -> list[dict]:
    ms = {name: [a for _, a in phase["acks"]] for name, phase in (("idle", idle), ("loaded", loaded))}
    p99, base99 = _pct(ms["loaded"], 0.99), _pct(ms["idle"], 0.99)
    rows = [
        {"metric": f"webhook ack p99 while {N} q2a run (Slack, Telegram, Feishu; {workers} worker(s))", "value": round(p99, 1),
         "unit": "ms", "baseline": f"{base99:.1f} ms idle (same run)", "ratio": round(p99 / base99, 2),
         "goal": "< 100 ms", "met": p99 < 100},
        {"metric": "webhook ack p50 while the q2a run / idle", "value": round(statistics.median(ms["loaded"]), 1), "unit": "ms",
         "baseline": f"{statistics.median(ms['idle']):.1f} ms idle"},
        {"metric": "webhook ack max while the q2a run", "value": round(max(ms["loaded"]), 1), "unit": "ms"},
        {"metric": "deliveries timed while the q2a run / idle", "value": len(ms["loaded"]), "unit": "",
         "baseline": f"{len(ms['idle'])} idle"},
        {"metric": "webhook errors (not 200, or no ack in 30 s)", "value": idle["errors"] + loaded["errors"] + warm["errors"],
         "unit": "deliveries", "goal": "0", "met": idle["errors"] + loaded["errors"] + warm["errors"] == 0},
        {"metric": f"{N} concurrent LLM-path q2a wall (beside the deliveries)", "value": round(wall, 2), "unit": "s",
         "baseline": f"{q2a_errors} errors"},
    ]
    for platform in ("slack", "telegram", "feishu"):
        vals = [a for p, a in loaded["acks"] if p == platform]
        rows.append({"metric": f"{platform} ack p99 while the q2a run", "value": round(_pct(vals, 0.99), 1), "unit": "ms",
                     "baseline": f"{_pct([a for p, a in idle['acks'] if p == platform], 0.99):.1f} ms idle"})
    return rows


def run(workers: int | None = None) -> dict:
    return asyncio.run(_main(workers or os.cpu_count() or 1))


if __name__ == "__main__":
    if sys.argv[1:] == ["--prober"]:
        asyncio.run(_prober())
    else:
        for row in run(int(sys.argv[1]) if len(sys.argv) > 1 else None)["rows"]:
            print(row)
