"""Dataset routes: multipart in, the spec's shapes out (`{total, datasets}`, previews with rows)."""
from __future__ import annotations

from aiohttp import web

from tabletalk.adapters.rest.app import core_of
from tabletalk.adapters.rest.http import json_response, requires
from tabletalk.core.errors import Invalid, TooLarge
from tabletalk.core.tables.datasets import DatasetService, dataset_view, preview

routes = web.RouteTableDef()
MAX_DATASET_BYTES = 5 * 1024 * 1024


def _service(request) -> DatasetService:
    return DatasetService(core_of(request).store)


async def _form(request: web.Request) -> dict:
    """The fields a request sent (absent ones are left out, so an update changes only those)."""
    if request.content_type not in ("multipart/form-data", "application/x-www-form-urlencoded"):
        raise Invalid("Send datasets as multipart/form-data (fields: name, description, type, data or files).")
    form = await request.post()
    out = {k: form.get(k) for k in ("name", "description", "type") if isinstance(form.get(k), str)}
    if "data" in form:
        out["values"] = [v for v in form.getall("data") if isinstance(v, str)]
    uploads = [u for u in form.getall("files", []) if not isinstance(u, str)]
    if "files" in form and not uploads:
        raise Invalid("Send CSV files in the 'files' field as file uploads.")
    if uploads:
        blobs, total = [], 0
        for upload in uploads:
            if not (upload.filename or "").lower().endswith(".csv"):
                raise Invalid("Only .csv files can be uploaded as datasets.")
            raw = upload.file.read(MAX_DATASET_BYTES + 1)
            total += len(raw)
            if total > MAX_DATASET_BYTES:
                raise TooLarge(f"Dataset files are limited to {MAX_DATASET_BYTES // (1024 * 1024)} MB.")
            blobs.append(raw)
        out["csv_files"] = blobs
    return out


@routes.get("/datasets")
@requires("priv_asker")
async def list_datasets(request: web.Request) -> web.Response:
    """All datasets."""
    rows = await _service(request).list()
    return json_response({"total": len(rows), "datasets": [dataset_view(d) for d in rows]})


@routes.post("/datasets")
@requires("priv_asker")
async def create_dataset(request: web.Request) -> web.Response:
    """Create a dataset (multipart: a list of `data` values, or CSV `files`)."""
    fields = await _form(request)
    ds = await _service(request).create(**{"type": "list", **fields})
    return json_response(dataset_view(ds), status=201)


@routes.get("/datasets/{dataset}")
@requires("priv_asker")
async def get_dataset(request: web.Request) -> web.Response:
    """One dataset."""
    return json_response(dataset_view(await _service(request).get(request.match_info["dataset"])))


@routes.get("/datasets/{dataset}/preview")
@requires("priv_asker")
async def preview_dataset(request: web.Request) -> web.Response:
    """List items, or the first 100 CSV rows as objects."""
    return json_response(preview(await _service(request).get(request.match_info["dataset"])))


@routes.patch("/datasets/{dataset}")
@requires("priv_asker")
async def patch_dataset(request: web.Request) -> web.Response:
    """Change what the form names: name, description, list `data`, or CSV `files` (replacing the rows)."""
    ds = await _service(request).update(request.match_info["dataset"], **await _form(request))
    return json_response({"id": ds.id, **dataset_view(ds)})


@routes.delete("/datasets/{dataset}")
@requires("priv_asker")
async def delete_dataset(request: web.Request) -> web.Response:
    """Delete a dataset."""
    await _service(request).delete(request.match_info["dataset"])
    return json_response("")
