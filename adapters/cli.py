"""The `tabletalk` command: serve the service, and offline helpers for bots, tables and benchmarks."""
from __future__ import annotations

import argparse
import logging
import sys

from tabletalk.config.settings import Settings


def _serve(args: argparse.Namespace) -> int:
    from aiohttp import web

    from tabletalk.adapters.rest.app import create_app

    settings = Settings()
    if args.bots:
        settings.bot_paths = list(args.bots)
    app = create_app(settings)
    print(f"TableTalk listening on http://{args.host}:{args.port} (home: {settings.home.resolve()})", flush=True)
    web.run_app(app, host=args.host, port=args.port, print=None, access_log=None)
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


COMMANDS = {"serve": _serve, "bots": lambda a: a.bots_func(a)}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tabletalk", description="Talk to your data in chat apps and over REST.")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the HTTP service (REST API and webhooks)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--bots", action="append", default=[], help="extra bot YAML file or folder (repeatable)")
    bots = sub.add_parser("bots", help="bot config files")
    bots_sub = bots.add_subparsers(dest="bots_command", required=True)
    check = bots_sub.add_parser("check", help="validate bot YAML files offline")
    check.add_argument("files", nargs="+")
    check.set_defaults(bots_func=_bots_check)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=Settings().log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return COMMANDS[args.command](args) or 0


if __name__ == "__main__":
    sys.exit(main())
