"""The shared error model's pieces: the parameter check (NUL is a coded 422 before any
route runs), the framework's own refusals in the model, and the document's amendments."""

from __future__ import annotations

import re
from datetime import datetime

from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from services.shared import api_document, http_errors


def app() -> FastAPI:
    built = FastAPI(dependencies=[Depends(http_errors.plain_parameters)])
    http_errors.install(built)
    reached: list[str] = []
    built.state.reached = reached

    @built.get("/things/{name}")
    async def thing(name: str, q: str = "") -> dict[str, str]:
        reached.append(name)
        return {"name": name, "q": q}

    @built.post("/things/{name}")
    async def make(name: str) -> dict[str, str]:
        return {"name": name}

    @built.get("/since")
    async def since(when: datetime | None = None) -> dict[str, str]:
        return {"when": str(when)}

    api_document.install(built, open_prefixes=("/since",))
    return built


def test_a_nul_in_a_query_path_or_header_parameter_is_a_coded_422_before_the_route() -> None:
    served = app()
    client = TestClient(served)
    for path, headers in (("/things/a?q=x%00y", {}), ("/things/a%00b", {}),
                          ("/things/a?x%00=1", {})):
        reply = client.get(path, headers=headers)
        assert reply.status_code == 422, path
        assert reply.json()["error"] == "invalid_parameter"
        assert set(reply.json()) == {"error", "detail"}
    assert served.state.reached == []  # the route never ran
    assert client.get("/things/a?q=%C3%A5").json() == {"name": "a", "q": "å"}


def test_the_frameworks_own_refusals_are_coded_and_405_lists_the_documented_methods() -> None:
    client = TestClient(app())
    missing = client.get("/nowhere")
    assert (missing.status_code, missing.json()["error"]) == (404, "not_found")
    wrong = client.delete("/things/a")
    assert (wrong.status_code, wrong.json()["error"]) == (405, "method_not_allowed")
    assert wrong.headers["allow"] == "GET, POST"  # two routes, one path


def test_the_document_states_the_key_the_nul_rule_and_unix_times() -> None:
    spec = TestClient(app()).get("/openapi.json").json()
    thing = spec["paths"]["/things/{name}"]["get"]
    assert thing["security"] == [{"ApiKey": []}]
    assert spec["components"]["securitySchemes"]["ApiKey"] == {
        "type": "apiKey", "in": "header", "name": "X-API-Key"}
    assert "security" not in spec["paths"]["/since"]["get"]  # an open prefix
    name = next(p for p in thing["parameters"] if p["name"] == "name")
    pattern = re.compile(name["schema"]["pattern"])
    assert pattern.fullmatch("any text, å") and not pattern.fullmatch("a\x00b")
    when = spec["paths"]["/since"]["get"]["parameters"][0]["schema"]["anyOf"]
    assert {"type": "string", "format": "date-time"} in when
    assert any(b.get("type") == "number" for b in when)
    # ...which is true: FastAPI takes unix seconds for a datetime.
    assert TestClient(app()).get("/since?when=0").json() == {"when": "1970-01-01 00:00:00+00:00"}
