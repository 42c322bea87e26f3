"""API keys: creation (secret shown once), hashed storage, scopes, revocation, admin bootstrap."""
from __future__ import annotations

import hashlib
import logging
import secrets
import time

from sqlmodel import select

from tabletalk.core.errors import Forbidden, Invalid, NotFound, Unauthorized
from tabletalk.core.store.db import Store
from tabletalk.core.store.models import ApiKey, iso, utcnow

log = logging.getLogger(__name__)

# Higher rank includes the powers of lower ranks.
SCOPES = {"priv_visitor": 1, "priv_asker": 2, "priv_admin": 3}
_CACHE_TTL = 5.0  # seconds a verified key is trusted without a lookup (bounds revocation delay across instances)


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def key_view(key: ApiKey) -> dict:
    """What a listing shows: the prefix, never the secret nor its hash."""
    return {"id": key.id, "name": key.name, "prefix": key.prefix, "scope": key.scope, "bot_ids": key.bot_ids,
            "created_at": iso(key.created_at), "revoked_at": iso(key.revoked_at)}


class KeyService:
    def __init__(self, store: Store):
        self.store = store
        self._cache: dict[str, tuple[float, ApiKey]] = {}

    async def create(self, scope: str, name: str = "", bot_ids: list[str] | None = None) -> tuple[ApiKey, str]:
        if scope not in SCOPES:
            raise Invalid(f"Unknown scope '{scope}'. Use one of: {', '.join(SCOPES)}.")
        secret = "tt_" + secrets.token_urlsafe(32)
        key = ApiKey(name=name, prefix=secret[:10], key_hash=hash_key(secret), scope=scope, bot_ids=bot_ids or [])
        async with self.store.session() as s:
            s.add(key)
            await s.commit()
        return key, secret

    async def list(self) -> list[ApiKey]:
        async with self.store.session() as s:
            return list((await s.exec(select(ApiKey).where(ApiKey.revoked_at == None).order_by(ApiKey.created_at))).all())  # noqa: E711

    async def revoke(self, key_id: str) -> None:
        async with self.store.session() as s:
            key = await s.get(ApiKey, key_id)
            if key is None or key.revoked_at is not None:
                raise NotFound(f"API key '{key_id}' does not exist.")
            key.revoked_at = utcnow()
            s.add(key)
            await s.commit()
        self._cache = {h: v for h, v in self._cache.items() if v[1].id != key_id}

    async def authenticate(self, header: str | None) -> ApiKey:
        if not header:
            raise Unauthorized("Missing API key: send 'Authorization: Bearer <key>'.")
        scheme, _, secret = header.partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise Unauthorized("Malformed Authorization header: use 'Authorization: Bearer <key>'.")
        digest = hash_key(secret.strip())
        hit = self._cache.get(digest)
        now = time.monotonic()
        if hit and hit[0] > now:
            return hit[1]
        async with self.store.session() as s:
            key = (await s.exec(select(ApiKey).where(ApiKey.key_hash == digest))).first()
        if key is None or key.revoked_at is not None:
            self._cache.pop(digest, None)
            raise Unauthorized("Invalid or revoked API key.")
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[digest] = (now + _CACHE_TTL, key)
        return key

    async def bootstrap_admin(self, configured: str | None) -> str | None:
        """Make sure an admin key exists. Returns a newly generated secret (to print once), else None."""
        async with self.store.session() as s:
            if configured:
                digest = hash_key(configured)
                if (await s.exec(select(ApiKey).where(ApiKey.key_hash == digest))).first() is None:
                    s.add(ApiKey(name="TABLETALK_ADMIN_KEY", prefix=configured[:10], key_hash=digest, scope="priv_admin"))
                    await s.commit()
                return None
            admins = (await s.exec(select(ApiKey).where(ApiKey.scope == "priv_admin", ApiKey.revoked_at == None))).first()  # noqa: E711
        if admins is not None:
            return None
        _, secret = await self.create("priv_admin", name="generated at first start")
        return secret


def require_scope(key: ApiKey, needed: str) -> None:
    if SCOPES[key.scope] < SCOPES[needed]:
        raise Forbidden(f"This API key has scope {key.scope}; this action needs {needed}.")
