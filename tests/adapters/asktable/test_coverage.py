"""Every in-scope method of the AskTable SDK works against TableTalk, each reply validating strictly
against the SDK's declared model (the same run `python -m tests.adapters.asktable.coverage` prints)."""
from __future__ import annotations

from tests.adapters.asktable.coverage import run
from tests.conftest import ADMIN_KEY


def test_every_in_scope_sdk_method_validates_against_its_model(served):
    outcomes = run(served.base_url, ADMIN_KEY)
    in_scope = {n: o for n, o in outcomes.items() if "out of scope" not in o}
    assert len(in_scope) == 50 and {n: o for n, o in in_scope.items() if o != "ok"} == {}
    # Areas TableTalk has no counterpart for answer a clean 4xx, never a 500.
    assert not [n for n, o in outcomes.items() if " 500 " in o or "Internal" in o]
