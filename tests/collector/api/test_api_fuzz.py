"""Schema-driven fuzzing of the app's OpenAPI document: no input may produce a 5xx.

The schema is the app's own (``app.openapi()``); the generated requests - valid ones and
deliberately invalid ones (negative mode: wrong types, out-of-range numbers, bad patterns,
NUL bytes, extra parameters) - go over HTTP to the app served by uvicorn over the module's
collector-filled database, with project A's key.
"""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from swisper_studio.collector.api.app import create_app
from swisper_studio.collector.settings import Settings

MAX_EXAMPLES = 30

schema = schemathesis.openapi.from_dict(create_app(Settings()).openapi())
schema.config.generation.update(
    modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], max_examples=MAX_EXAMPLES
)


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_input_makes_a_server_error(case, live_server, studio):
    response = case.call(base_url=live_server, headers=studio.headers("proj-a"), timeout=30)
    assert response.status_code < 500, (
        f"{case.method} {case.formatted_path} {case.query} -> {response.status_code}: "
        f"{response.text[:300]}"
    )
    if response.status_code >= 400:
        assert response.json()["error"]["message"]
