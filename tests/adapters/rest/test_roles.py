"""Roles over REST: names are unique per installation."""
from __future__ import annotations

from tests.conftest import ADMIN


async def test_a_second_role_with_the_same_name_is_a_409_naming_the_first(client):
    first = await client.post("/api/v1/roles", headers=ADMIN, json={"name": "city manager"})
    assert first.status == 201
    role = await first.json()
    again = await client.post("/api/v1/roles", headers=ADMIN, json={"name": "City Manager "})
    assert again.status == 409
    assert role["id"] in (await again.json())["detail"] and "city manager" in (await again.json())["detail"]
    other = await (await client.post("/api/v1/roles", headers=ADMIN, json={"name": "auditor"})).json()
    renamed = await client.patch(f"/api/v1/roles/{other['id']}", headers=ADMIN, json={"name": "city manager"})
    assert renamed.status == 409
    listing = await (await client.get("/api/v1/roles", headers=ADMIN)).json()
    assert sorted(r["name"] for r in listing["items"]) == ["auditor", "city manager"]
