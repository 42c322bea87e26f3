"""Who is asking, as far as access is concerned: the scope of the credential and the role it is
bound to (if any). Every door builds one (REST from its API key, chat platforms for a platform
user) and hands it to `PolicyService.scope_for`, the one place that decides which role applies."""
from __future__ import annotations

from dataclasses import dataclass, field

SCOPE_RANKS = {"priv_visitor": 1, "priv_asker": 2, "priv_admin": 3}


@dataclass(frozen=True)
class Principal:
    scope: str = "priv_visitor"          # a chat-platform user counts as a visitor
    key_id: str | None = None
    role_id: str | None = None           # bound by the key or token: overrides any role a request names
    role_variables: dict = field(default_factory=dict)

    @property
    def admin(self) -> bool:
        return self.scope == "priv_admin"

    @property
    def bound(self) -> bool:
        return self.role_id is not None

    def may(self, scope: str) -> bool:
        """True when this principal's scope includes `scope`'s powers."""
        return SCOPE_RANKS.get(self.scope, 0) >= SCOPE_RANKS[scope]

    @classmethod
    def of_key(cls, key) -> Principal:
        """The principal of a stored API key or token (`core.store.models.ApiKey`)."""
        return cls(scope=key.scope, key_id=key.id, role_id=key.role_id, role_variables=dict(key.role_variables or {}))


PLATFORM_USER = Principal()
