"""Encryption at rest for datasource passwords and bot tokens (Fernet, key kept in the home)."""
from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from tabletalk.config import logs
from tabletalk.core.errors import Invalid

_PREFIX = "enc:"
MASK = "***"
# Keys of access_config / channel configs that hold secrets: write-only, encrypted at rest.
SECRET_FIELDS = frozenset({"password", "bot_token", "signing_secret", "token", "secret_token", "app_secret",
                           "verification_token", "encrypt_key", "key", "api_key", "private_key"})


class SecretBox:
    def __init__(self, key: bytes):
        self._fernet = Fernet(key)

    @classmethod
    def from_home(cls, home: Path, explicit: str | None = None) -> "SecretBox":
        """Use TABLETALK_SECRET_KEY if given (needed when instances share PostgreSQL), else `home/secret.key`."""
        if explicit:
            return cls(explicit.encode())
        path = home / "secret.key"
        if not path.exists():
            home.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(Fernet.generate_key())
        return cls(path.read_bytes().strip())

    def encrypt(self, value: str) -> str:
        return _PREFIX + self._fernet.encrypt(value.encode()).decode()

    def decrypt(self, value: str) -> str:
        if not isinstance(value, str) or not value.startswith(_PREFIX):
            return value
        try:
            return self._fernet.decrypt(value[len(_PREFIX):].encode()).decode()
        except InvalidToken:
            raise Invalid("A stored secret cannot be decrypted: the home's secret key changed.") from None

    def seal(self, config: dict) -> dict:
        """Encrypt the secret fields of a (possibly nested) config dict."""
        return {k: (self.seal(v) if isinstance(v, dict) else
                    self.encrypt(str(v)) if k in SECRET_FIELDS and v not in (None, "") and not str(v).startswith(_PREFIX) else v)
                for k, v in config.items()}

    def open(self, config: dict) -> dict:
        """Decrypt the secret fields of a config dict, for use by connectors only (and never logged:
        each opened secret is masked in every log line from then on)."""
        opened = {k: (self.open(v) if isinstance(v, dict) else self.decrypt(v) if k in SECRET_FIELDS else v)
                  for k, v in config.items()}
        logs.remember(*(v for k, v in opened.items() if k in SECRET_FIELDS))
        return opened


def redact(config: dict) -> dict:
    """The shape of a config with every secret replaced by '***' (what GET responses show)."""
    return {k: (redact(v) if isinstance(v, dict) else MASK if k in SECRET_FIELDS and v not in (None, "") else v)
            for k, v in config.items()}


def merge_secrets(old: dict, new: dict) -> dict:
    """A PATCH that sends '***' (or omits a secret) keeps the stored one."""
    out = dict(old)
    for k, v in new.items():
        if isinstance(v, dict) and isinstance(old.get(k), dict):
            out[k] = merge_secrets(old[k], v)
        elif k in SECRET_FIELDS and v == MASK:
            continue
        else:
            out[k] = v
    return out
