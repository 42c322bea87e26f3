"""The `tabletalk` command: serve the service, and offline helpers for bots, tables and benchmarks."""
from __future__ import annotations

import argparse
import logging
import os
import sys

from tabletalk.adapters import cli_tables
from tabletalk.config.settings import Settings


class CliError(Exception):
    """A one-line message for the user; the command exits non-zero without a traceback."""


def _serve(args: argparse.Namespace) -> int:
    from tabletalk.adapters.serve import PortError, serve

    settings = Settings()
    if args.bots:
        settings.bot_paths = list(args.bots)
    try:
        serve(settings, args.host, args.port, workers=args.workers)
    except PortError as exc:
        raise CliError(str(exc)) from None
    except KeyboardInterrupt:
        pass
    return 0


def _bots_check(args: argparse.Namespace) -> int:
    from tabletalk.config.bots import ConfigFileError, load_bot_file

    status = 0
    for path in args.files:
        try:
            parsed = load_bot_file(path)
        except ConfigFileError as exc:
            print(f"error: {exc}", file=sys.stderr)
            status = 1
            continue
        names = ", ".join(b.id for b in parsed.bots) or "no bots"
        print(f"ok: {path}: {names}; {len(parsed.datasources)} datasource(s)")
    return status


def _existing_home(settings: Settings):
    """The home `serve` uses (TABLETALK_HOME, else ./.tabletalk), which must already exist for offline commands."""
    home = settings.home.resolve()
    print(f"home: {home}", file=sys.stderr)
    if not settings.database_url and not home.is_dir():
        raise CliError(f"no TableTalk home at {home}: run `tabletalk init` (or `tabletalk serve`) there first, "
                       "or set TABLETALK_HOME to the home you serve from")
    return home


async def _with_dispatcher(fn):
    """Run `fn(dispatcher)` against the home's metadata, without serving HTTP."""
    from tabletalk.bot.dispatcher import Dispatcher
    from tabletalk.core.runtime import Core

    settings = Settings()
    _existing_home(settings)
    core = Core(settings)
    await core.start()
    dispatcher = Dispatcher(core)
    await dispatcher.start()
    try:
        return await fn(dispatcher)
    finally:
        await core.close()


def _telegram(args: argparse.Namespace) -> int:
    import asyncio

    from tabletalk.adapters import telegram

    async def set_webhook(dispatcher):
        bot = await dispatcher.bot(args.bot)
        if bot.channels.telegram is None:
            raise CliError(f"bot '{args.bot}' has no Telegram channel")
        ok = await telegram.set_webhook(bot.channels.telegram, args.url)
        print("webhook registered" if ok else "Telegram refused the webhook")
        return 0 if ok else 1

    async def poll(dispatcher):
        print(f"polling Telegram for bot {args.bot} (Ctrl-C to stop)")
        await telegram.poll(dispatcher, args.bot)
        return 0

    return asyncio.run(_with_dispatcher(set_webhook if args.telegram_command == "set-webhook" else poll))


def _generate(args: argparse.Namespace) -> int:
    import asyncio

    from rich.progress import Progress

    async def generate(dispatcher):
        with Progress() as progress:
            task = progress.add_task(f"Generating {args.table}", total=args.count)
            async for batch in dispatcher.core.tables.generate(args.table, count=args.count, batch=args.batch, model=args.model):
                progress.advance(task, len(batch))
        return 0

    return asyncio.run(_with_dispatcher(generate))


def _init(args: argparse.Namespace) -> int:
    """Create the home (metadata database, demo shop, admin key) without serving."""
    import asyncio

    from tabletalk.core.runtime import Core

    async def init():
        settings = Settings()
        core = Core(settings)
        await core.start()
        await core.close()
        print(f"home ready: {core.home}")

    asyncio.run(init())
    return 0


def _bench(args: argparse.Namespace) -> int:
    import runpy

    sys.argv = ["bench", *args.only]
    runpy.run_module("bench", run_name="__main__")
    return 0


COMMANDS = {"serve": _serve, "init": _init, "bots": lambda a: a.bots_func(a), "telegram": _telegram,
            "tables": cli_tables.run, "workflows": cli_tables.run, "generate": _generate, "bench": _bench}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tabletalk", description="Talk to your data in chat apps and over REST.")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the HTTP service (REST API and webhooks)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--bots", action="append", default=[], help="extra bot YAML file or folder (repeatable)")
    serve.add_argument("--workers", type=int, default=int(os.environ.get("TABLETALK_WORKERS") or (os.cpu_count() or 1)),
                       help="worker processes sharing the port (default: TABLETALK_WORKERS, else the number of cores)")
    sub.add_parser("init", help="create the home (TABLETALK_HOME, else ./.tabletalk) with the demo, without serving")
    bots = sub.add_parser("bots", help="bot config files")
    bots_sub = bots.add_subparsers(dest="bots_command", required=True)
    check = bots_sub.add_parser("check", help="validate bot YAML files offline")
    check.add_argument("files", nargs="+")
    check.set_defaults(bots_func=_bots_check)
    tg = sub.add_parser("telegram", help="Telegram helpers")
    tg_sub = tg.add_subparsers(dest="telegram_command", required=True)
    hook = tg_sub.add_parser("set-webhook", help="register https://HOST/webhooks/telegram/BOT with Telegram")
    hook.add_argument("bot")
    hook.add_argument("--url", required=True)
    poll = tg_sub.add_parser("poll", help="answer by long polling (development, no public URL needed)")
    poll.add_argument("bot")
    cli_tables.register(sub)
    gen = sub.add_parser("generate", help="generate rows into a table (progress bar)")
    gen.add_argument("table")
    gen.add_argument("--count", type=int, default=10)
    gen.add_argument("--batch", type=int, default=10)
    gen.add_argument("--model", default=None)
    bench = sub.add_parser("bench", help="run the benchmarks (from a source checkout)")
    bench.add_argument("only", nargs="*")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from tabletalk.core.errors import TableTalkError

    try:
        logging.basicConfig(level=Settings().log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        return COMMANDS[args.command](args) or 0
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
    except TableTalkError as exc:
        print(f"error: {exc.detail}", file=sys.stderr)
    except (OSError, ValueError) as exc:  # unreadable files, bad JSON, invalid settings or schemas
        print(f"error: {_one_line(exc)}", file=sys.stderr)
    except KeyboardInterrupt:
        return 130
    return 1


def _one_line(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return "; ".join(lines[:3])


if __name__ == "__main__":
    sys.exit(main())
