"""The FastAPI app: OpenAI chat completions for the agent (`alpha-umi`) and for each role model,
plain completions for the role models, model listing and health.

    from multiagentllm.serve import create_app
    app = create_app(llm)                 # an LLM, or a function that loads one
    uvicorn.run(app, host="127.0.0.1", port=8000)

    from openai import OpenAI
    client = OpenAI(base_url="http://127.0.0.1:8000/v1", api_key="unused")
    client.chat.completions.create(model="alpha-umi", messages=[{"role": "user", "content": "..."}])
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from multiagentllm.roles.registry import episode_roles
from multiagentllm.serve.agent_chat import chat_agent
from multiagentllm.serve.config import AGENT_MODEL, ServeConfig
from multiagentllm.serve.episodes import EpisodeStore
from multiagentllm.serve.errors import APIError, install_handlers
from multiagentllm.serve.gate import Gate
from multiagentllm.serve.protocol import ChatRequest, CompletionRequest, read_json, refuse_unsupported, validate
from multiagentllm.serve.roles_api import chat_role, completions
from multiagentllm.serve.state import ServerState
from multiagentllm.serve.worker import Admission, LLMSource, ModelWorker
from multiagentllm.tools import default_registry

log = logging.getLogger("multiagentllm.serve")


def create_app(llm_or_factory: LLMSource, registry: Any = None, *, config: ServeConfig | None = None,
               single: bool = False, roles: tuple[str, ...] | None = None) -> FastAPI:
    """Build the server around one model (or a zero-argument function that loads it in the
    worker thread, so /health answers while it loads).

    `registry` holds the tools that run on the server (the built-in `default_registry()` when
    None); each episode gets a fresh world from it. `single` runs the agent in single-LLM mode
    and serves the role model `single`; otherwise the roles are planner, caller and summarizer.
    `config` holds the limits, the API key and whether /docs is served; its connection limits
    are uvicorn's to enforce (`ServerThread` and `umi serve` pass them on).
    """
    config = config or ServeConfig()
    if registry is None:
        registry = default_registry(timeout=config.agent.tool_timeout)
    roles = roles or episode_roles(single)
    worker = ModelWorker(llm_or_factory, max_batch=config.max_batch)
    state = ServerState(config=config, worker=worker, registry=registry, roles=tuple(roles),
                        single=single, store=EpisodeStore(config.paused_episodes, config.paused_ttl),
                        admission=Admission(config.queue_size),
                        executor=ThreadPoolExecutor(config.queue_size, thread_name_prefix="umi-episode"))
    started = int(time.time())
    worker.start()

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        yield
        worker.stop()
        state.executor.shutdown(wait=False, cancel_futures=True)

    docs = {} if config.docs else {"docs_url": None, "redoc_url": None, "openapi_url": None}
    app = FastAPI(title="multiagentllm", summary="alpha-UMi agent and role models, OpenAI-compatible",
                  lifespan=lifespan, **docs)
    app.state.umi = state
    install_handlers(app)
    app.add_middleware(Gate, counters=state.counters, api_key=config.api_key, docs=config.docs)

    @app.get("/health")
    async def health() -> JSONResponse:
        ready = worker.state == "ready"
        body = {"status": "ok" if ready else worker.state, "model": worker.state,
                "error": worker.error, "models": state.models,
                "queue": {"in_progress": state.admission.active, "limit": state.admission.limit,
                          "waiting_for_model": worker.waiting},
                "paused_episodes": len(state.store), "generations": worker.generations,
                "batches": worker.batches, **state.counters}
        return JSONResponse(body, status_code=200 if ready else 503)

    def model_card(name: str) -> dict[str, Any]:
        return {"id": name, "object": "model", "created": started, "owned_by": "multiagentllm"}

    @app.get("/v1/models")
    async def list_models() -> dict[str, Any]:
        return {"object": "list", "data": [model_card(m) for m in state.models]}

    @app.get("/v1/models/{name}")
    async def get_model(name: str) -> dict[str, Any]:
        if name not in state.models:
            raise _unknown_model(name, state)
        return model_card(name)

    async def parse(request: Request, kind: type) -> Any:
        """The request's body as `kind`, checked: size and JSON, a served model, the fields, no
        option the server does not support."""
        body = await read_json(request, config)
        _check_model(body, state)
        req = validate(kind, body)
        refuse_unsupported(req)
        return req

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Any:
        req = await parse(request, ChatRequest)
        if req.model == AGENT_MODEL:
            return await chat_agent(state, req, request)
        return await chat_role(state, req)

    @app.post("/v1/completions")
    async def complete(request: Request) -> Any:
        return await completions(state, await parse(request, CompletionRequest))

    return app


def _check_model(body: dict[str, Any], state: ServerState) -> None:
    """404 for an unknown model before anything else in the body is judged."""
    model = body.get("model")
    if model is None:
        raise APIError(400, "model is required", param="model", code="missing_required_parameter")
    if not isinstance(model, str):
        raise APIError(400, f"model must be a string, got {type(model).__name__}", param="model",
                       code="invalid_value")
    if model not in state.models:
        raise _unknown_model(model, state)


def _unknown_model(name: str, state: ServerState) -> APIError:
    return APIError(404, f"the model {name!r} does not exist here; available: "
                         f"{', '.join(state.models)}", param="model", code="model_not_found")
