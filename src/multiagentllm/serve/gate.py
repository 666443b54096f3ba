"""What every HTTP request passes before a route sees it: the API key check (when the server has
one) and the served/errors counters that /health reports.

A plain ASGI middleware rather than FastAPI's `@app.middleware("http")`: that one runs the route
in a task group of its own, which wraps every exception a route lets out in a traceback of the
middleware's internals, and hands the route a receive channel of its own making; this one only
looks at the headers on the way in and the status on the way out.
"""

from __future__ import annotations

import hmac
from typing import Any

from multiagentllm.serve.errors import APIError

OPEN_PATHS = frozenset({"/health"})  # answered without the key: a load balancer probes it
DOC_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"})


class Gate:
    """`app.add_middleware(Gate, counters=..., api_key=..., docs=...)`."""

    def __init__(self, app: Any, *, counters: dict[str, int], api_key: str | None = None,
                 docs: bool = False):
        self.app, self.counters = app, counters
        self.key = api_key.encode() if api_key else None
        self.open = OPEN_PATHS | (DOC_PATHS if docs else frozenset())

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def counting(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                self.counters["served" if message["status"] < 400 else "errors"] += 1
            await send(message)

        refusal = self._refusal(scope)
        if refusal is not None:
            await refusal.response()(scope, receive, counting)
            return
        await self.app(scope, receive, counting)

    def _refusal(self, scope: dict[str, Any]) -> APIError | None:
        if self.key is None or scope["path"] in self.open:
            return None
        given = dict(scope["headers"]).get(b"authorization")
        if given is None:
            return APIError(401, "this server needs an API key: send the header "
                                 "'Authorization: Bearer <key>' (the openai client's api_key)",
                            code="invalid_api_key")
        scheme, _, token = given.partition(b" ")
        # compare_digest: the time taken does not tell how much of the key was right
        if scheme.lower() != b"bearer" or not hmac.compare_digest(token.strip(), self.key):
            return APIError(401, "incorrect API key (send 'Authorization: Bearer <key>')",
                            code="invalid_api_key")
        return None
