"""Canvas boards: a DAG of data/chart/text/sql nodes, run one at a time as an event stream or
refreshed together in dependency order (independent nodes concurrently)."""
from __future__ import annotations

import asyncio
import html
import json
import logging
from collections.abc import AsyncIterator

from sqlmodel import select

from tabletalk.core.canvas.models import Canvas, CanvasNode
from tabletalk.core.canvas.runs import NodeRuns
from tabletalk.core.errors import Invalid, NotFound, TableTalkError
from tabletalk.core.nlq.answer import fmt, template_answer
from tabletalk.core.nlq.charts import choose_chart, render_png
from tabletalk.core.nlq.pipeline import Ask, Pipeline
from tabletalk.core.policy.principal import Principal
from tabletalk.core.store.db import Store
from tabletalk.core.store.models import iso, utcnow

log = logging.getLogger(__name__)
NODE_TYPES = ("data", "chart", "text", "sql")


def canvas_view(c: Canvas) -> dict:
    return {"id": c.id, "name": c.name, "datasource_id": c.datasource_id, "role_id": c.role_id,
            "created_at": iso(c.created_at), "modified_at": iso(c.modified_at)}


def node_view(n: CanvasNode) -> dict:
    out = {"id": n.id, "canvas_id": n.canvas_id, "type": n.type, "title": n.title, "question": n.question,
           "sql": n.sql, "parent_ids": n.parent_ids, "status": n.status, "data": n.data or None,
           "created_at": iso(n.created_at), "started_at": iso(n.started_at), "completed_at": iso(n.completed_at)}
    if n.error:
        out["error"] = n.error
    return out


def topological_order(nodes: dict[str, list[str]]) -> list[str]:
    """Kahn's algorithm over {node: parents}; raises Invalid on a cycle."""
    indegree = {n: sum(1 for p in ps if p in nodes) for n, ps in nodes.items()}
    children: dict[str, list[str]] = {n: [] for n in nodes}
    for n, ps in nodes.items():
        for p in ps:
            if p in nodes:
                children[p].append(n)
    ready = sorted(n for n, d in indegree.items() if d == 0)
    order = []
    while ready:
        n = ready.pop(0)
        order.append(n)
        for c in children[n]:
            indegree[c] -= 1
            if indegree[c] == 0:
                ready.append(c)
    if len(order) != len(nodes):
        raise Invalid("These edges would make a cycle: a node cannot depend on itself, directly or indirectly.")
    return order


class CanvasService:
    def __init__(self, store: Store, pipeline: Pipeline, datasources, *, lease: float = 30.0):
        self.store = store
        self.pipeline = pipeline
        self.datasources = datasources
        self.runs = NodeRuns(store, lease)  # a node left `running` by a dead instance is failed when read
        self._detached: set[asyncio.Task] = set()  # runs whose listener left before they ended

    # --- canvases ---------------------------------------------------------------------------
    async def create(self, name: str, datasource_id: str, role_id: str | None, role_variables: dict,
                     owner_key_id: str | None = None) -> Canvas:
        await self.datasources.get(datasource_id)
        canvas = Canvas(name=name, datasource_id=datasource_id, role_id=role_id, role_variables=role_variables,
                        owner_key_id=owner_key_id)
        async with self.store.session() as s:
            s.add(canvas)
            await s.commit()
        return canvas

    async def get(self, canvas_id: str, principal: Principal | None = None) -> Canvas:
        """The canvas; with a principal, only if it may see it (administrators all, others their own)."""
        canvas = await self.store.fetch(Canvas, canvas_id, "Canvas")
        if principal is not None and not principal.admin and canvas.owner_key_id != principal.key_id:
            raise NotFound(f"Canvas '{canvas_id}' does not exist.")
        return canvas

    async def list(self, principal: Principal | None = None) -> list[Canvas]:
        q = select(Canvas)
        if principal is not None and not principal.admin:
            q = q.where(Canvas.owner_key_id == principal.key_id)
        async with self.store.session() as s:
            return list((await s.exec(q.order_by(Canvas.created_at))).all())

    async def update(self, canvas_id: str, changes: dict) -> Canvas:
        async with self.store.session() as s:
            canvas = await s.get(Canvas, canvas_id)
            if canvas is None:
                raise NotFound(f"Canvas '{canvas_id}' does not exist.")
            for k in ("name", "role_id", "role_variables"):
                if k in changes:
                    setattr(canvas, k, changes[k])
            canvas.modified_at = utcnow()
            s.add(canvas)
            await s.commit()
        return canvas

    async def delete(self, canvas_id: str) -> None:
        await self.get(canvas_id)
        async with self.store.session() as s:
            for n in (await s.exec(select(CanvasNode).where(CanvasNode.canvas_id == canvas_id))).all():
                await s.delete(n)
            await s.delete(await s.get(Canvas, canvas_id))
            await s.commit()

    # --- nodes ------------------------------------------------------------------------------
    async def nodes(self, canvas_id: str) -> list[CanvasNode]:
        async with self.store.session() as s:
            nodes = list((await s.exec(select(CanvasNode).where(CanvasNode.canvas_id == canvas_id)
                                       .order_by(CanvasNode.created_at))).all())
        await self.runs.settle(nodes)
        return nodes

    async def node(self, canvas_id: str, node_id: str) -> CanvasNode:
        async with self.store.session() as s:
            node = await s.get(CanvasNode, node_id)
        if node is None or node.canvas_id != canvas_id:
            raise NotFound(f"Node '{node_id}' does not exist in canvas '{canvas_id}'.")
        await self.runs.settle([node])
        return node

    async def _check_edges(self, canvas_id: str, node_id: str | None, parent_ids: list[str]) -> None:
        graph = {n.id: list(n.parent_ids) for n in await self.nodes(canvas_id)}
        missing = [p for p in parent_ids if p not in graph]
        if missing:
            raise Invalid(f"Parent node '{missing[0]}' does not exist in this canvas.")
        graph[node_id or "\x00new"] = list(parent_ids)
        topological_order(graph)

    async def add_node(self, canvas_id: str, type: str, question: str = "", sql: str | None = None,
                       parent_ids: list[str] | None = None, title: str = "") -> CanvasNode:
        await self.get(canvas_id)
        if type not in NODE_TYPES:
            raise Invalid(f"Unknown node type '{type}'; use one of: {', '.join(NODE_TYPES)}.")
        if type == "sql" and not sql:
            raise Invalid("A sql node needs its 'sql'.")
        if type in ("data", "chart") and not question and not parent_ids:
            raise Invalid(f"A {type} node needs a 'question' (or a parent to draw from).")
        await self._check_edges(canvas_id, None, parent_ids or [])
        node = CanvasNode(canvas_id=canvas_id, type=type, question=question, sql=sql, parent_ids=parent_ids or [],
                          title=title or question[:80])
        async with self.store.session() as s:
            s.add(node)
            await s.commit()
        return node

    async def update_node(self, canvas_id: str, node_id: str, changes: dict) -> CanvasNode:
        await self.node(canvas_id, node_id)
        if changes.get("parent_ids") is not None:
            await self._check_edges(canvas_id, node_id, changes["parent_ids"])
        async with self.store.session() as s:
            node = await s.get(CanvasNode, node_id)
            for k in ("question", "sql", "parent_ids", "title"):
                if changes.get(k) is not None:
                    setattr(node, k, changes[k])
            node.status = "pending"
            s.add(node)
            await s.commit()
        return node

    async def delete_node(self, canvas_id: str, node_id: str) -> None:
        await self.node(canvas_id, node_id)
        async with self.store.session() as s:
            for n in (await s.exec(select(CanvasNode).where(CanvasNode.canvas_id == canvas_id))).all():
                if node_id in n.parent_ids:
                    n.parent_ids = [p for p in n.parent_ids if p != node_id]
                    s.add(n)
            await s.delete(await s.get(CanvasNode, node_id))
            await s.commit()

    async def _save(self, node: CanvasNode, **fields) -> None:
        async with self.store.session() as s:
            row = await s.get(CanvasNode, node.id)
            for k, v in fields.items():
                setattr(row, k, v)
                setattr(node, k, v)
            s.add(row)
            await s.commit()

    # --- running ----------------------------------------------------------------------------
    async def run(self, canvas_id: str, node_id: str, principal: Principal | None = None) -> AsyncIterator[dict]:
        """Run one node as `principal`, yielding the spec's events: text, tool_use, tool_result, complete | error."""
        canvas = await self.get(canvas_id, principal)
        node = await self.node(canvas_id, node_id)
        parents = [await self.node(canvas_id, p) for p in node.parent_ids]
        queue: asyncio.Queue = asyncio.Queue()

        async def worker():
            try:
                await self._execute(canvas, node, parents, queue.put, principal)
            finally:
                await queue.put(None)

        task = asyncio.create_task(worker())
        try:
            while (event := await queue.get()) is not None:
                yield event
        finally:
            if not task.done():  # the listener left: the node still finishes and stores its result
                self._detached.add(task)
                task.add_done_callback(self._detached.discard)

    async def _execute(self, canvas: Canvas, node: CanvasNode, parents: list[CanvasNode], emit,
                       principal: Principal | None) -> bool:
        await self._save(node, status="running", started_at=utcnow(), error=None, **self.runs.lease())
        self.runs.started()
        try:
            not_ready = [p.id for p in parents if p.status != "completed"]
            if not_ready:
                raise Invalid(f"Parent node(s) {', '.join(not_ready)} have no result yet; run them first.")
            data = await self._compute(canvas, node, parents, emit, principal or Principal())
        except asyncio.CancelledError:  # shutdown: the node must not stay `running`
            await asyncio.shield(self._save(node, status="failed", completed_at=utcnow(),
                                            error="The run was interrupted (the service stopped); run the node again."))
            raise
        except TableTalkError as exc:
            await self._save(node, status="failed", error=exc.detail, completed_at=utcnow())
            await emit({"type": "error", "error": exc.detail})
            return False
        except Exception as exc:  # a node failure is the node's state, never a broken stream
            log.exception("canvas node %s failed", node.id)
            await self._save(node, status="failed", error=f"Internal error: {type(exc).__name__}", completed_at=utcnow())
            await emit({"type": "error", "error": "Internal error while running the node."})
            return False
        finally:
            self.runs.ended()
        await self._save(node, status="completed", data=data, completed_at=utcnow())
        await emit({"type": "complete", "data": data})
        return True

    async def close(self) -> None:
        """Stop runs nobody listens to any more (each marks its node failed)."""
        for task in list(self._detached):
            task.cancel()
        await asyncio.gather(*self._detached, return_exceptions=True)
        await self.runs.close()

    async def _compute(self, canvas: Canvas, node: CanvasNode, parents: list[CanvasNode], emit,
                       principal: Principal) -> dict:
        if node.type == "text":
            await emit({"type": "text", "text": f"Summarising {len(parents)} parent result(s)..."})
            lines = []
            for p in parents:
                df = (p.data or {}).get("dataframe") or {}
                if df:
                    lines.append(f"{p.title or p.question}: " + template_answer(p.question, df["columns"], df["data"]))
            return {"description": node.question or "Summary", "text": "\n".join(lines) or "No parent results to summarise."}
        data_parent = next((p for p in parents if (p.data or {}).get("sql")), None)
        if node.type == "chart" and not node.question and data_parent:
            df = data_parent.data["dataframe"]
            await emit({"type": "text", "text": "Charting the parent's result..."})
            chart = choose_chart(data_parent.question, df["columns"], df["data"])
            return {**data_parent.data, "description": data_parent.question, "chart": chart}

        async def progress(step: str, payload: dict) -> None:
            if step == "linking":
                await emit({"type": "text", "text": "Found tables: " + ", ".join(payload.get("tables", [])[:8])})
            elif step == "sql":
                await emit({"type": "tool_use", "tool": "execute_sql", "args": {"sql": payload["sql"]}})
            elif step == "rows":
                await emit({"type": "tool_result", "result": payload})

        await emit({"type": "text", "text": "Searching related tables..."})
        history = [{"question": data_parent.question, "sql": data_parent.data["sql"]}] if data_parent else []
        answer = await self.pipeline.run(Ask(
            datasource_id=canvas.datasource_id, question=node.question or node.title, role_id=canvas.role_id,
            role_variables=canvas.role_variables, principal=principal, history=history, chart=node.type == "chart",
            sql=node.sql if node.type == "sql" else None, progress=progress), "canvas")
        if answer.status != "success":
            raise Invalid(answer.message or "The node could not be answered.")
        return {"sql": answer.sql, "description": answer.answer, "dataframe": answer.dataframe,
                "chart": answer.chart}

    async def batch_refresh(self, canvas_id: str, node_ids: list[str], principal: Principal | None = None) -> dict:
        """Re-run the nodes and everything downstream, parents before children, independent ones together."""
        canvas = await self.get(canvas_id, principal)
        all_nodes = {n.id: n for n in await self.nodes(canvas_id)}
        missing = [n for n in node_ids if n not in all_nodes]
        if missing:
            raise NotFound(f"Node '{missing[0]}' does not exist in canvas '{canvas_id}'.")
        selected = set(node_ids)
        changed = True
        while changed:  # close over descendants
            changed = False
            for n in all_nodes.values():
                if n.id not in selected and selected & set(n.parent_ids):
                    selected.add(n.id)
                    changed = True
        graph = {n: [p for p in all_nodes[n].parent_ids] for n in selected}
        order = topological_order(graph)
        done: dict[str, asyncio.Future] = {n: asyncio.get_running_loop().create_future() for n in order}

        async def run_one(nid: str) -> None:
            node = all_nodes[nid]
            outcomes = [await done[p] for p in node.parent_ids if p in done]
            failed = [p for p, ok in zip([p for p in node.parent_ids if p in done], outcomes) if not ok]
            if failed:
                await self._save(node, status="skipped", error=f"Skipped: parent node {failed[0]} did not complete.",
                                 completed_at=utcnow())
                done[nid].set_result(False)
                return
            parents = [await self.node(canvas_id, p) for p in node.parent_ids]

            async def ignore(_event):
                return None

            ok = await self._execute(canvas, node, parents, ignore, principal)
            done[nid].set_result(ok)

        await asyncio.gather(*(run_one(n) for n in order))
        fresh = {n.id: n for n in await self.nodes(canvas_id)}
        return {"order": order, "nodes": [node_view(fresh[n]) for n in order]}

    # --- export -----------------------------------------------------------------------------
    async def export_html(self, canvas_id: str) -> str:
        canvas = await self.get(canvas_id)
        nodes = await self.nodes(canvas_id)
        parts = [f"<h1>{html.escape(canvas.name)}</h1>"]
        for n in nodes:
            data = n.data or {}
            parts.append(f'<section class="node" id="{n.id}"><h2>{html.escape(n.title or n.question or n.type)}</h2>'
                         f'<p class="status">{n.type} · {n.status}</p>')
            if data.get("description") or data.get("text"):
                parts.append(f"<p>{html.escape(str(data.get('text') or data.get('description')))}</p>")
            if data.get("chart"):
                try:
                    import base64

                    png = base64.b64encode(await render_png(data["chart"], scale=1.5)).decode()
                    parts.append(f'<img class="chart" alt="chart" src="data:image/png;base64,{png}">')
                except Exception:
                    log.warning("chart of node %s did not render", n.id, exc_info=True)
                parts.append(f'<script type="application/json" class="vega-lite">{html.escape(json.dumps(data["chart"]))}</script>')
            df = data.get("dataframe")
            if df and df.get("columns"):
                head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df["columns"])
                rows = "".join("<tr>" + "".join(f"<td>{html.escape(fmt(v))}</td>" for v in r) + "</tr>" for r in df["data"][:50])
                parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
            if data.get("sql"):
                parts.append(f"<pre><code>{html.escape(data['sql'])}</code></pre>")
            parts.append("</section>")
        style = ("body{font-family:sans-serif;max-width:960px;margin:2em auto}section{border:1px solid #ddd;"
                 "padding:1em;margin:1em 0}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px}"
                 "pre{background:#f6f6f6;padding:.5em;white-space:pre-wrap}")
        return (f"<!doctype html><html><head><meta charset=\"utf-8\"><title>{html.escape(canvas.name)}</title>"
                f"<style>{style}</style></head><body>{''.join(parts)}</body></html>")
