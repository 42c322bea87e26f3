"""Every method of the AskTable SDK (5.5.0) called against a running TableTalk, with its outcome:
`ok` (the raw reply validates strictly against the SDK's declared model), `lenient` (the SDK parsed
it, but the declared model rejects it), or the error. Methods outside TableTalk's scope are called
with placeholder arguments and counted apart.

    python -m tests.adapters.asktable.coverage                       # starts a TableTalk from this checkout
    python -m tests.adapters.asktable.coverage --base-url URL --key K  # any running server (e.g. URL/api)
"""
from __future__ import annotations

import argparse
import inspect
import io
import pathlib
import tempfile
from collections.abc import Callable

from asktable import types as T

from pydantic import ValidationError

from tests.adapters.asktable.server import NotTheModel, Served, sdk, strict, strict_page

Q = "How many orders are there?"


def _steps() -> list[tuple[str, Callable]]:
    """(method, call(client, ctx)) in an order where each call finds the ids it needs in ctx."""
    def page(res, name, model, *a, **kw):
        return strict_page(res, name, model, *a, **kw)

    def keep(name, value, pick=lambda raw: raw["id"]):
        """Run a step and keep an id from its reply for later steps, even when the reply is lenient."""
        def run(c, ctx):
            try:
                parsed, raw = value(c, ctx)
            except NotTheModel as exc:
                ctx[name] = pick(exc.raw)
                raise
            ctx[name] = pick(raw)
            return parsed, raw
        return run

    demo = keep("demo", lambda c, ctx: page(c.datasources, "list", T.Datasource),
                lambda raw: next(d["id"] for d in (raw["items"] if isinstance(raw, dict) else raw) if d["name"] == "Demo shop"))

    csv = ("o.xlsx", _xlsx(), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    return [
        ("auth.me", lambda c, ctx: strict(c.auth, "me", T.AuthMeResponse)),
        ("datasources.list", demo),
        ("datasources.retrieve", lambda c, ctx: strict(c.datasources, "retrieve", T.DatasourceRetrieveResponse, ctx["demo"])),
        ("datasources.retrieve_runtime_meta", lambda c, ctx: strict(
            c.datasources, "retrieve_runtime_meta", T.DatasourceRetrieveRuntimeMetaResponse, ctx["demo"])),
        ("datasources.meta.retrieve", lambda c, ctx: strict(c.datasources.meta, "retrieve", T.Meta, ctx["demo"])),
        ("datasources.meta.create", lambda c, ctx: strict(c.datasources.meta, "create", object, ctx["demo"], async_process_meta=False)),
        ("datasources.meta.update", lambda c, ctx: strict(c.datasources.meta, "update", object, ctx["demo"], async_process_meta=False)),
        ("datasources.meta.annotate", lambda c, ctx: strict(c.datasources.meta, "annotate", object, ctx["demo"], schemas={
            "main": {"tables": {"orders": {"desc": "One row per order.", "fields": {"amount": "Order total in EUR"}}}}})),
        ("datasources.update_field", lambda c, ctx: strict(c.datasources, "update_field", object, ctx["demo"], field_name="email",
                                                           schema_name="main", table_name="customers", visibility=True)),
        ("datasources.indexes.create", keep("index", lambda c, ctx: strict(
            c.datasources.indexes, "create", object, ctx["demo"], field_name="status", schema_name="main", table_name="orders"))),
        ("datasources.indexes.list", lambda c, ctx: page(c.datasources.indexes, "list", T.Index, ctx["demo"])),
        ("datasources.indexes.delete", lambda c, ctx: strict(c.datasources.indexes, "delete", None, ctx["index"], ds_id=ctx["demo"])),
        ("sqls.create", lambda c, ctx: strict(c.sqls, "create", T.QueryResponse, datasource_id=ctx["demo"], question=Q)),
        ("sqls.list", lambda c, ctx: page(c.sqls, "list", T.QueryResponse, datasource_id=ctx["demo"])),
        ("answers.create", lambda c, ctx: strict(c.answers, "create", T.AnswerResponse, datasource_id=ctx["demo"], question=Q)),
        ("answers.list", lambda c, ctx: page(c.answers, "list", T.AnswerResponse)),
        ("datasources.create", keep("files_ds", lambda c, ctx: strict(c.datasources, "create", T.Datasource, engine="excel", name="Uploads"))),
        ("datasources.add_file", lambda c, ctx: strict(c.datasources, "add_file", object, ctx["files_ds"], file=csv)),
        ("datasources.update", lambda c, ctx: strict(c.datasources, "update", T.Datasource, ctx["files_ds"], desc="Uploaded sheets")),
        ("datasources.delete_file", lambda c, ctx: strict(c.datasources, "delete_file", None, "o.xlsx", datasource_id=ctx["files_ds"])),
        ("datasources.delete", lambda c, ctx: strict(c.datasources, "delete", None, ctx["files_ds"])),
        ("policies.create", keep("policy", lambda c, ctx: strict(c.policies, "create", T.shared.Policy, name="delivered only",
                                                                 permission="allow", dataset_config={
                                                                     "datasource_ids": [ctx["demo"]],
                                                                     "rows_filters": {ctx["demo"]: ["*.orders.status = {{status}}"]}}))),
        ("policies.retrieve", lambda c, ctx: strict(c.policies, "retrieve", T.shared.Policy, ctx["policy"])),
        ("policies.update", lambda c, ctx: strict(c.policies, "update", T.shared.Policy, ctx["policy"], name="by status")),
        ("policies.list", lambda c, ctx: page(c.policies, "list", T.shared.Policy)),
        ("roles.create", keep("role", lambda c, ctx: strict(c.roles, "create", T.Role, name="clerk", policy_ids=[ctx["policy"]]))),
        ("roles.retrieve", lambda c, ctx: strict(c.roles, "retrieve", T.Role, ctx["role"])),
        ("roles.update", lambda c, ctx: strict(c.roles, "update", T.Role, ctx["role"], name="clerks")),
        ("roles.list", lambda c, ctx: page(c.roles, "list", T.Role)),
        ("roles.get_polices", lambda c, ctx: strict(c.roles, "get_polices", T.RoleGetPolicesResponse, ctx["role"])),
        ("roles.get_variables", lambda c, ctx: strict(c.roles, "get_variables", object, ctx["role"])),
        ("auth.create_token", keep("token", lambda c, ctx: strict(c.auth, "create_token", object, ak_role="asker", chat_role={
            "role_id": ctx["role"], "role_variables": {"status": "delivered"}}, token_ttl=600), lambda raw: raw["token"])),
        ("trainings.create", keep("training", lambda c, ctx: strict(
            c.trainings, "create", T.TrainingCreateResponse, datasource_id=ctx["demo"],
            body=[{"question": "What is our GMV?", "sql": "SELECT SUM(amount) AS gmv FROM orders"}]),
            lambda raw: raw[0]["id"] if isinstance(raw, list) else raw["id"])),
        ("trainings.list", lambda c, ctx: page(c.trainings, "list", T.TrainingListResponse, datasource_id=ctx["demo"])),
        ("trainings.update", lambda c, ctx: strict(c.trainings, "update", T.TrainingUpdateResponse, ctx["training"],
                                                   datasource_id=ctx["demo"], active=False)),
        ("trainings.delete", lambda c, ctx: strict(c.trainings, "delete", None, ctx["training"], datasource_id=ctx["demo"])),
        ("bots.create", keep("bot", lambda c, ctx: strict(c.bots, "create", T.Chatbot, datasource_ids=[ctx["demo"]], name="Shop bot"))),
        ("bots.retrieve", lambda c, ctx: strict(c.bots, "retrieve", T.Chatbot, ctx["bot"])),
        ("bots.update", lambda c, ctx: strict(c.bots, "update", T.Chatbot, ctx["bot"], welcome_message="Hello")),
        ("bots.list", lambda c, ctx: page(c.bots, "list", T.Chatbot)),
        ("chats.create", keep("chat", lambda c, ctx: strict(c.chats, "create", T.Chat, bot_id=ctx["bot"]))),
        ("chats.retrieve", lambda c, ctx: strict(c.chats, "retrieve", T.ChatRetrieveResponse, ctx["chat"])),
        ("chats.list", lambda c, ctx: page(c.chats, "list", T.Chat)),
        ("chats.messages.create", keep("message", lambda c, ctx: strict(
            c.chats.messages, "create", T.chats.MessageCreateResponse, ctx["chat"], question=Q))),
        ("chats.messages.retrieve", lambda c, ctx: strict(c.chats.messages, "retrieve", T.chats.MessageRetrieveResponse,
                                                          ctx["message"], chat_id=ctx["chat"])),
        ("chats.messages.list", lambda c, ctx: page(c.chats.messages, "list", T.chats.MessageListResponse, ctx["chat"])),
        ("chats.delete", lambda c, ctx: strict(c.chats, "delete", None, ctx["chat"])),
        ("bots.delete", lambda c, ctx: strict(c.bots, "delete", None, ctx["bot"])),
        ("roles.delete", lambda c, ctx: strict(c.roles, "delete", None, ctx["role"])),
        ("policies.delete", lambda c, ctx: strict(c.policies, "delete", None, ctx["policy"])),
    ]


def _xlsx() -> bytes:
    import pandas as pd

    buf = io.BytesIO()
    pd.DataFrame({"region": ["north", "south"], "total": [3, 4]}).to_excel(buf, index=False)
    return buf.getvalue()


def all_methods(client) -> dict[str, Callable]:
    from asktable._resource import SyncAPIResource

    out = {}
    for attr in sorted(vars(client)):
        res = getattr(client, attr)
        if isinstance(res, SyncAPIResource):
            out.update(_resource_methods(res, attr))
    return out


def _resource_methods(res, prefix: str) -> dict[str, Callable]:
    from asktable._resource import SyncAPIResource

    out = {}
    for name, member in inspect.getmembers(type(res)):
        if name.startswith("_") or name.startswith("with_"):
            continue
        if isinstance(member, property) or type(member).__name__ == "cached_property":
            sub = getattr(res, name)
            if isinstance(sub, SyncAPIResource):
                out.update(_resource_methods(sub, f"{prefix}.{name}"))
        elif inspect.isfunction(member):
            out[f"{prefix}.{name}"] = getattr(res, name)
    return out


def _placeholder_call(fn):
    kwargs = {}
    for p in inspect.signature(fn).parameters.values():
        if p.default is inspect.Parameter.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
            kwargs[p.name] = [] if "List" in str(p.annotation) or "Iterable" in str(p.annotation) else "x"
    return fn(**kwargs)


def run(base_url: str, key: str) -> dict[str, str]:
    """Outcome per SDK method: 'ok', 'lenient: ...' or 'error: ...'."""
    client = sdk(base_url, key)
    outcomes: dict[str, str] = {}
    ctx: dict = {}
    for name, call in _steps():
        try:
            call(client, ctx)
            outcomes[name] = "ok"
        except Exception as exc:  # the outcome is the report
            outcomes[name] = _classify(exc)
    for name, fn in all_methods(client).items():
        if name not in outcomes:
            try:
                _placeholder_call(fn)
                outcomes[name] = "ok (out of scope)"
            except Exception as exc:
                outcomes[name] = "out of scope: " + _classify(exc)
    return outcomes


def _classify(exc: Exception) -> str:
    if isinstance(exc, NotTheModel):
        first = exc.error.errors()[0]["loc"] if isinstance(exc.error, ValidationError) else str(exc.error)[:60]
        return f"lenient: the SDK parsed it, its model rejects it (first: {first})"
    status = getattr(exc, "status_code", None)
    text = str(exc).splitlines()[0][:120]
    return f"error: {status or type(exc).__name__} {text}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url")
    parser.add_argument("--key")
    args = parser.parse_args()
    if args.base_url:
        outcomes = run(args.base_url, args.key)
    else:
        from tests.conftest import ADMIN_KEY

        with Served(pathlib.Path(tempfile.mkdtemp()) / "home") as served:
            outcomes = run(served.base_url, ADMIN_KEY)
    in_scope = {n: o for n, o in outcomes.items() if not o.startswith(("out of scope", "ok (out"))}
    for name, outcome in outcomes.items():
        print(f"{name:42} {outcome}")
    ok = sum(o == "ok" for o in in_scope.values())
    lenient = sum(o.startswith("lenient") for o in in_scope.values())
    print(f"\nin scope: {ok}/{len(in_scope)} ok (strict), {lenient} more parsed leniently only; "
          f"all SDK methods: {sum(o.startswith('ok') for o in outcomes.values())}/{len(outcomes)} ok")


if __name__ == "__main__":
    main()
