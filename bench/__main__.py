"""Run every benchmark, print one table, write JSON and Markdown reports.

Each benchmark module exposes `run() -> dict` returning {"rows": [{"metric", "value", "unit", "baseline",
"ratio", "goal", "met"}], ...}; a module that is missing or fails is reported, never fatal.
"""
from __future__ import annotations

import argparse
import importlib
import json
import platform
import sys
import time
import traceback
from pathlib import Path

BENCHES = ("rest_overhead", "nlq_accuracy", "spider", "policy_rewrite", "linking", "prompt_recall", "concurrency", "webhooks",
           "tablegen")


def machine() -> str:
    import os

    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.platform()}"


def markdown(results: dict) -> str:
    lines = [f"Measured on {results['machine']} at {results['when']}.", "",
             "| benchmark | metric | value | baseline | ratio | goal | met |", "|---|---|---|---|---|---|---|"]
    for name, res in results["benches"].items():
        if "error" in res:
            lines.append(f"| {name} | error | {res['error']} | | | | |")
            continue
        for r in res.get("rows", []):
            lines.append(f"| {name} | {r['metric']} | {r['value']} {r.get('unit', '')} | {r.get('baseline', '')} | "
                         f"{r.get('ratio', '')} | {r.get('goal', '')} | {'yes' if r.get('met') else ('no' if 'met' in r else '')} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("only", nargs="*", help="benchmarks to run (default: all)")
    parser.add_argument("--out", default="bench/results")
    args = parser.parse_args(argv)
    results = {"machine": machine(), "when": time.strftime("%Y-%m-%d %H:%M:%S"), "benches": {}}
    for name in args.only or BENCHES:
        t0 = time.perf_counter()
        try:
            module = importlib.import_module(f"bench.{name}")
            res = module.run()
        except Exception as exc:
            traceback.print_exc()
            res = {"error": f"{type(exc).__name__}: {exc}"}
        res["seconds"] = round(time.perf_counter() - t0, 1)
        results["benches"][name] = res
        print(f"[{name}] done in {res['seconds']} s", file=sys.stderr)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(results, indent=2, default=str))
    md = markdown(results)
    (out / "report.md").write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
