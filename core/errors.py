"""Typed errors raised where a problem arises; the REST adapter maps them to a status once."""
from __future__ import annotations


class TableTalkError(Exception):
    """Base class: `str(err)` is a sentence a user can act on."""

    status = 400

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


class Invalid(TableTalkError):
    """The request is understood but cannot be honoured as given (bad SQL, missing variable...)."""

    status = 400


class Unauthorized(TableTalkError):
    status = 401


class Forbidden(TableTalkError):
    status = 403


class NotFound(TableTalkError):
    status = 404


class Conflict(TableTalkError):
    status = 409


class TooLarge(TableTalkError):
    status = 413


class Unprocessable(TableTalkError):
    """Validation of a body failed; the detail names the field."""

    status = 422


class Upstream(TableTalkError):
    """Something we depend on (an LLM, a database, a platform API) failed or timed out. `detail` may
    name hosts and ports, so only administrators read it; everyone else reads `public`."""

    status = 502

    def __init__(self, detail: str, public: str | None = None):
        super().__init__(detail)
        self.public = public or ("A service this answer depends on (the language model or the database) did not "
                                 "answer. Please try again in a moment; an administrator can find the details in the log.")


def shown_to(exc: TableTalkError, admin: bool) -> str:
    """The sentence a caller may read: upstream failures name hosts and ports only to administrators."""
    return exc.detail if admin or not isinstance(exc, Upstream) else exc.public


class NotSupported(TableTalkError):
    status = 501
