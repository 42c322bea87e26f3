"""API keys and tokens: creation (secret shown once), hashed storage, scopes, an optional bound role
and expiry, revocation, admin bootstrap. A token is a key minted for one end user, usually short-lived."""
from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import datetime, timedelta, timezone

from sqlmodel import select

from tabletalk.core.cache import TtlCache
from tabletalk.core.errors import Forbidden, Invalid, NotFound, Unauthorized
from tabletalk.core.store.db import Store
from tabletalk.core.policy.principal import SCOPE_RANKS
from tabletalk.core.policy.variables import VariableSpec, validate_variables
from tabletalk.core.store.models import ApiKey, iso, utcnow

log = logging.getLogger(__name__)

# Higher rank includes the powers of lower ranks.
SCOPES = SCOPE_RANKS
_CACHE_TTL = 5.0  # seconds a verified key is trusted without a lookup (bounds revocation delay across instances)
PREFIX_CHARS = 4  # what a listing shows of a secret ("tt_" and one character)
DEFAULT_TOKEN_TTL = 3600
MAX_TOKEN_TTL = 366 * 24 * 3600


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def key_view(key: ApiKey) -> dict:
    """What a listing shows: the prefix, never the secret nor its hash."""
    return {"id": key.id, "name": key.name, "kind": key.kind or "key", "prefix": key.prefix, "scope": key.scope,
            "bot_ids": key.bot_ids, "role_id": key.role_id, "role_variables": key.role_variables or {},
            "user_profile": key.user_profile or {}, "expires_at": iso(key.expires_at),
            "created_at": iso(key.created_at), "revoked_at": iso(key.revoked_at)}


def _aware(dt: datetime | None) -> datetime | None:
    """SQLite hands stored UTC timestamps back without a zone."""
    return dt if dt is None or dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def expired(key: ApiKey) -> bool:
    return key.expires_at is not None and _aware(key.expires_at) <= utcnow()


class KeyService:
    def __init__(self, store: Store, policies=None):
        self.store = store
        self.policies = policies  # PolicyService: checks the role a key is bound to
        # Key hash -> key (None: unknown). Stale entries are served while one refresh runs, so a
        # revocation on another instance shows within about _CACHE_TTL plus one lookup.
        self._cache: TtlCache[ApiKey | None] = TtlCache(_CACHE_TTL)

    async def create(self, scope: str, name: str = "", bot_ids: list[str] | None = None, *,
                     role_id: str | None = None, role_variables: dict | None = None, ttl: int | None = None,
                     user_profile: dict | None = None, kind: str = "key") -> tuple[ApiKey, str]:
        """Store a new key; returns it with its secret (shown once). With `role_id` every query the key
        makes is scoped to that role and `role_variables` (checked against the role's declarations
        now); with `ttl` (seconds) it stops working after that long."""
        if scope not in SCOPES:
            raise Invalid(f"Unknown scope '{scope}'. Use one of: {', '.join(SCOPES)}.")
        role_id, role_variables = await self._checked_role(role_id, role_variables)
        if ttl is not None and not 0 < ttl <= MAX_TOKEN_TTL:
            raise Invalid(f"token_ttl must be between 1 and {MAX_TOKEN_TTL} seconds.")
        secret = "tt_" + secrets.token_urlsafe(32)
        key = ApiKey(name=name, prefix=secret[:PREFIX_CHARS], key_hash=hash_key(secret), scope=scope, bot_ids=bot_ids or [],
                     kind=kind, role_id=role_id, role_variables=role_variables, user_profile=dict(user_profile or {}),
                     expires_at=None if ttl is None else utcnow() + timedelta(seconds=ttl))
        async with self.store.session() as s:
            s.add(key)
            await s.commit()
        return key, secret

    async def create_token(self, *, scope: str = "priv_asker", role_id: str | None = None,
                           role_variables: dict | None = None, ttl: int | None = DEFAULT_TOKEN_TTL,
                           user_profile: dict | None = None, bot_ids: list[str] | None = None,
                           name: str = "") -> tuple[ApiKey, str]:
        """A token for one end user: a key that expires (default an hour) and usually carries the
        user's role, so an application can hand it to a browser without letting the user pick a role.
        What AskTable's `POST /v1/auth/tokens {ak_role, chat_role, user_profile, token_ttl}` makes."""
        return await self.create(scope, name or "token", bot_ids, role_id=role_id, role_variables=role_variables,
                                 ttl=ttl, user_profile=user_profile, kind="token")

    async def _checked_role(self, role_id: str | None, values: dict | None) -> tuple[str | None, dict]:
        if role_id is None:
            if values:
                raise Invalid("role_variables were given without a role_id to bind them to.")
            return None, {}
        if not str(role_id).strip():
            raise Invalid("role_id is empty; name a role, or leave role_id out for a key without a role.")
        if self.policies is None:
            raise Invalid("Keys bound to a role need the policy service.")
        role = await self.policies.get_role(role_id)
        specs = [VariableSpec(name=v["name"], type=v.get("type", "string"), required=v.get("required", True))
                 for v in role.variables]
        return role.id, validate_variables(specs, dict(values or {}))

    async def list(self) -> list[ApiKey]:
        async with self.store.session() as s:
            rows = (await s.exec(select(ApiKey).where(ApiKey.revoked_at == None).order_by(ApiKey.created_at))).all()  # noqa: E711
        return [k for k in rows if not expired(k)]

    async def revoke(self, key_id: str) -> None:
        async with self.store.session() as s:
            key = await s.get(ApiKey, key_id)
            if key is None or key.revoked_at is not None:
                raise NotFound(f"API key '{key_id}' does not exist.")
            key.revoked_at = utcnow()
            s.add(key)
            await s.commit()
        self._cache.drop_where(lambda k: k is not None and k.id == key_id)

    async def authenticate(self, header: str | None) -> ApiKey:
        if not header:
            raise Unauthorized("Missing API key: send 'Authorization: Bearer <key>'.")
        scheme, _, secret = header.partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise Unauthorized("Malformed Authorization header: use 'Authorization: Bearer <key>'.")
        digest = hash_key(secret.strip())
        key = await self._cache.get(digest, lambda: self._lookup(digest))
        if key is None or key.revoked_at is not None:
            raise Unauthorized("Invalid or revoked API key.")
        if expired(key):
            self._cache.pop(digest)
            raise Unauthorized("This token has expired; ask the application for a new one.")
        return key

    async def _lookup(self, digest: str) -> ApiKey | None:
        async with self.store.session() as s:
            return (await s.exec(select(ApiKey).where(ApiKey.key_hash == digest))).first()

    async def bootstrap_admin(self, configured: str | None) -> str | None:
        """Make sure an admin key exists. Returns a newly generated secret (to print once), else None."""
        async with self.store.session() as s:
            if configured:
                digest = hash_key(configured)
                if (await s.exec(select(ApiKey).where(ApiKey.key_hash == digest))).first() is None:
                    s.add(ApiKey(name="TABLETALK_ADMIN_KEY", prefix=configured[:PREFIX_CHARS], key_hash=digest, scope="priv_admin"))
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
