"""`tabletalk tables ...` and `tabletalk workflows ...`: Tablepilot schema and workflow files, run
against the home's metadata store with progress bars. Files a schema or workflow names are read
from the file's folder, the working directory or the home's data folder."""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from tabletalk.config.settings import Settings


def register(sub) -> None:
    """Add the `tables` and `workflows` commands to the `tabletalk` parser."""
    tables = sub.add_parser("tables", help="generated tables (Tablepilot schema files)")
    tables_sub = tables.add_subparsers(dest="tables_command", required=True)
    create = tables_sub.add_parser("create", help="create a table from a schema JSON file (spec or Tablepilot format)")
    create.add_argument("file")
    create.add_argument("--generate", type=int, default=0, metavar="N", help="then generate N rows")
    create.add_argument("--batch", type=int, default=10)
    create.add_argument("--replace", action="store_true", help="drop an existing table of that name first")
    create.set_defaults(tables_func=_create)
    workflows = sub.add_parser("workflows", help="Tablepilot workflow files")
    wf_sub = workflows.add_subparsers(dest="workflows_command", required=True)
    run = wf_sub.add_parser("run", help="run a workflow JSON file")
    run.add_argument("file")
    run.add_argument("--var", action="append", default=[], metavar="K=V", help="a variable (repeatable)")
    run.add_argument("--model", default=None)
    run.add_argument("--out", default=".", help="folder for ExportTable files (default: here)")
    run.set_defaults(tables_func=_run_workflow)


def run(args: argparse.Namespace) -> int:
    return args.tables_func(args)


def _read(path: str) -> dict:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise SystemExit(f"error: cannot read {path}: {exc}") from None
    if not isinstance(data, dict):
        raise SystemExit(f"error: {path} is not a JSON object")
    return data


async def _with_core(fn):
    from tabletalk.core.runtime import Core

    core = Core(Settings())
    await core.start()
    try:
        return await fn(core)
    finally:
        await core.close()


def _roots(core, file: str) -> list[Path]:
    return [Path(file).resolve().parent, Path.cwd(), core.home / "data"]


def _create(args: argparse.Namespace) -> int:
    from rich.progress import Progress

    from tabletalk.core.errors import TableTalkError

    async def create(core):
        raw = _read(args.file)
        try:
            if args.replace and raw.get("name") and await core.tables.find(raw["name"]):
                await core.tables.delete(raw["name"])
            table = await core.tables.create_from(raw, _roots(core, args.file))
            print(f"created table {table.name} ({table.id}) with {len(table.columns)} columns")
            if args.generate:
                with Progress() as progress:
                    task = progress.add_task(f"Generating {table.name}", total=args.generate)
                    async for batch in core.tables.generate(table.id, count=args.generate, batch=args.batch):
                        progress.advance(task, len(batch))
        except TableTalkError as exc:
            print(f"error: {exc.detail}", file=sys.stderr)
            return 1
        return 0

    return asyncio.run(_with_core(create))


def _variables(pairs: list[str]) -> dict:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"error: --var takes K=V, not '{pair}'")
        out[key] = value
    return out


def _run_workflow(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import Progress

    from tabletalk.core.tables.workflows import WorkflowService

    definition = _read(args.file)
    console = Console(stderr=True)

    async def run_it(core):
        svc = WorkflowService(core.store, core.tables)
        steps = definition.get("steps") or []
        status = 0
        with Progress(console=console) as progress:
            overall = progress.add_task(f"{definition.get('name', 'workflow')}", total=len(steps))
            rows_task = None
            async for event in svc.run_definition(definition, _variables(args.var), roots=_roots(core, args.file), model=args.model):
                kind = event["type"]
                if kind == "MESSAGE":
                    progress.console.print(event["data"])
                elif kind == "ROWS":
                    if rows_task is None:
                        rows_task = progress.add_task("rows", total=None)
                    progress.advance(rows_task, len(event["data"]))
                elif kind == "EXPORT":
                    target = Path(args.out) / Path(event.get("path") or "export.csv").name
                    target.write_text(event["data"], encoding="utf-8")
                    progress.console.print(f"wrote {target}")
                elif kind == "STEP_DONE":
                    progress.advance(overall)
                    if rows_task is not None:
                        progress.remove_task(rows_task)
                        rows_task = None
                elif kind == "ERROR":
                    progress.console.print(f"[red]error:[/red] {event['data']}")
                    status = 1
                elif kind == "WORKFLOW_DONE":
                    progress.console.print("workflow done")
        return status

    return asyncio.run(_with_core(run_it))
