"""OpenAI-style errors: every failure leaves the server as `{"error": {"message", "type", "param",
"code"}}` with a status code a client can act on, and the server keeps serving.

    400 invalid body (not JSON, wrong types, missing fields, unsupported parameters, text that
        is not valid Unicode, JSON nested too deep)
    401 the server has an API key and the request did not bring it
    404 unknown model or route
    408 the body did not arrive within the read timeout
    413 body or input too long (code `context_length_exceeded` for text or a rendered prompt
        over the limit)
    415 the body is not sent as `Content-Type: application/json`
    422 well-formed but unusable: malformed tool schemas, more steps than allowed, a tool history
        that does not fit together
    429 the request queue is full (retry later)
    503 the model is loading, failed to load, or a request waited too long for it
    500 anything else (the message names the exception; the server stays up)
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

log = logging.getLogger("multiagentllm.serve")

_TYPES = {400: "invalid_request_error", 401: "invalid_request_error", 404: "invalid_request_error",
          405: "invalid_request_error", 408: "invalid_request_error", 413: "invalid_request_error",
          415: "invalid_request_error", 422: "invalid_request_error", 429: "rate_limit_error",
          500: "server_error", 503: "server_error"}
_HEADERS = {401: {"WWW-Authenticate": "Bearer"}, 429: {"Retry-After": "1"}, 503: {"Retry-After": "1"},
            408: {"Connection": "close"}}  # 408: the rest of the body will not be read


class APIError(Exception):
    """Raised anywhere in a request; rendered as the OpenAI error body with `status`."""

    def __init__(self, status: int, message: str, *, param: str | None = None,
                 code: str | None = None, type: str | None = None):
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code
        self.type = type or _TYPES.get(status, "invalid_request_error")

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param,
                          "code": self.code}}

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status, headers=_HEADERS.get(self.status))


def install_handlers(app: FastAPI) -> None:
    """Route every exception through `APIError`, so no HTML page or bare 500 ever leaves."""

    @app.exception_handler(APIError)
    async def _api_error(_: Request, exc: APIError) -> JSONResponse:
        return exc.response()

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            return APIError(404, f"no route {request.method} {request.url.path}",
                            code="unknown_url").response()
        if exc.status_code == 405:
            return APIError(405, f"method {request.method} is not allowed on {request.url.path}",
                            code="method_not_allowed").response()
        return APIError(exc.status_code, str(exc.detail)).response()

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        param = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or None
        return APIError(400, first.get("msg", "invalid request"), param=param,
                        code="invalid_value").response()

    @app.exception_handler(ClientDisconnect)
    async def _client_left(request: Request, _: ClientDisconnect) -> JSONResponse:
        # Clients leave all the time; one line each, not a traceback (nothing reaches them anyway).
        log.info("%s left before its request was read: %s %s", client_name(request), request.method,
                 request.url.path)
        return APIError(400, "the client disconnected", code="client_disconnected").response()

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error while serving a request")
        return APIError(500, f"internal error: {type(exc).__name__}: {exc}",
                        code="internal_error").response()


def client_name(request: Request) -> str:
    return f"{request.client.host}:{request.client.port}" if request.client else "a client"
