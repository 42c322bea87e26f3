"""Model routes of table generation: models, providers, list generation and image import."""
from __future__ import annotations

import base64
import binascii

from aiohttp import web
from pydantic import BaseModel, Field, model_validator

from tabletalk.adapters.rest.app import core_of
from tabletalk.adapters.rest.http import json_response, no_content, parse_body, read_json, requires
from tabletalk.core.errors import Invalid, NotFound, TooLarge

routes = web.RouteTableDef()
MAX_IMAGE_BYTES = 5 * 1024 * 1024


class ListGenBody(BaseModel):
    """The spec's {model, prompt, options}; the older {description, existing, count} too."""
    prompt: str = Field("", max_length=10_000)
    options: list[str] = Field(default_factory=list, max_length=10_000)
    description: str = Field("", max_length=10_000)
    existing: list[str] = Field(default_factory=list, max_length=10_000)
    count: int = Field(10, ge=1, le=200)
    model: str | None = None

    @model_validator(mode="after")
    def has_prompt(self) -> "ListGenBody":
        if not (self.prompt or self.description).strip():
            raise ValueError("send a 'prompt' saying what to list")
        return self


class ProviderModel(BaseModel):
    model: str = Field(min_length=1)
    alias: str = ""
    max_tokens: int = 4096
    rpm: int = Field(0, ge=0)
    image: bool = False
    default: bool = False


class ProviderBody(BaseModel):
    name: str = Field(min_length=1)
    type: str = "openaicompatible"
    key: str = ""
    base_url: str = Field(min_length=1)
    enabled: bool = True
    models: list[ProviderModel] = Field(default_factory=list)


class ProviderPatch(BaseModel):
    key: str | None = None
    base_url: str | None = None
    enabled: bool | None = None
    models: list[ProviderModel] | None = None


@routes.get("/models")
@requires("priv_asker")
async def models(request: web.Request) -> web.Response:
    """Model names (aliases when set) and the default."""
    reg = core_of(request).llm
    default = reg.default
    return json_response({"default": (default.alias or default.model) if default else "",
                          "models": [m.alias or m.model for m in reg.models()]})


@routes.get("/providers")
@requires("priv_admin")
async def list_providers(request: web.Request) -> web.Response:
    """Configured providers (keys never shown)."""
    return json_response(core_of(request).providers.list())


@routes.post("/providers")
@requires("priv_admin", body=ProviderBody)
async def create_provider(request: web.Request) -> web.Response:
    """Add an OpenAI-compatible provider."""
    body = await parse_body(request, ProviderBody)
    await core_of(request).providers.create(body.model_dump())
    return json_response("")


@routes.patch("/providers/{provider_id}")
@requires("priv_admin", body=ProviderPatch)
async def patch_provider(request: web.Request) -> web.Response:
    """Change a provider's key, URL, models or enabled flag."""
    body = await parse_body(request, ProviderPatch)
    await core_of(request).providers.update(_int_id(request.match_info["provider_id"]), body.model_dump(exclude_unset=True))
    return json_response("")


@routes.delete("/providers/{provider_id}")
@requires("priv_admin")
async def delete_provider(request: web.Request) -> web.Response:
    """Remove a provider."""
    await core_of(request).providers.delete(_int_id(request.match_info["provider_id"]))
    return no_content()


def _int_id(raw: str) -> int:
    if not raw.isdigit():
        raise NotFound(f"Provider '{raw}' does not exist.")
    return int(raw)


@routes.post("/ai/list_gen")
@requires("priv_asker", body=ListGenBody)
async def list_gen(request: web.Request) -> web.Response:
    """New list items for a prompt, avoiding the given options."""
    body = await parse_body(request, ListGenBody)
    return json_response(await core_of(request).tables.list_gen(body.prompt or body.description, body.count,
                                                                body.options or body.existing, body.model))


def _image_url(data: str) -> str:
    """A data URL from the spec's base64 `data` (or a data URL already)."""
    if data.startswith("data:image/"):
        return data
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise Invalid("'data' must be the image as base64 (or a data:image/... URL).") from None
    if len(raw) > MAX_IMAGE_BYTES:
        raise TooLarge("Images are limited to 5 MB.")
    kind = "jpeg" if raw[:3] == b"\xff\xd8\xff" else "gif" if raw[:4] == b"GIF8" else "webp" if raw[8:12] == b"WEBP" else "png"
    return f"data:image/{kind};base64,{data}"


@routes.post("/image_import/tables")
@requires("priv_asker")
async def image_import(request: web.Request) -> web.Response:
    """Build a table (schema and rows) from an image: the spec's JSON {data: base64, prompt, model}
    (or `image` as a data URL), or multipart `image`. Needs a vision-capable model."""
    if request.content_type.startswith("multipart/"):
        form = await request.post()
        upload = form.get("image") or form.get("file")
        if upload is None or isinstance(upload, str):
            raise Invalid("Send the picture in the 'image' field.")
        raw = upload.file.read(MAX_IMAGE_BYTES + 1)
        if len(raw) > MAX_IMAGE_BYTES:
            raise TooLarge("Images are limited to 5 MB.")
        url = f"data:{upload.content_type or 'image/png'};base64,{base64.b64encode(raw).decode()}"
        fields = {k: form.get(k) for k in ("name", "prompt", "model")}
    else:
        body = await read_json(request)
        image = body.get("data") or body.get("image") if isinstance(body, dict) else None
        if not isinstance(image, str) or not image:
            raise Invalid("Send {\"data\": \"<base64 image>\", \"prompt\": ..., \"model\": ...}.")
        url, fields = _image_url(image), {k: body.get(k) for k in ("name", "prompt", "model")}
    table, count = await core_of(request).tables.import_image(url, name=fields["name"], prompt=fields["prompt"] or "",
                                                              model=fields["model"])
    return json_response({"id": table.id, "name": table.name, "rows": count}, status=201)
