"""Any OpenAI-compatible completions endpoint as an `LLM`, one endpoint (or model name) per role.

The runtime renders the prompt itself, so it uses the plain completions API (`/v1/completions`
with `prompt`, `stop`, `max_tokens`, `temperature=0`), not chat: the server must not wrap the
text in a chat template the roles were not trained with. vLLM serves the three role adapters of
one base as multi-LoRA models; llama.cpp's server and the project's own server speak the same API.

Constrained decoding: a role grammar (`roles.grammar`, llguidance Lark) is sent as vLLM's
`structured_outputs: {"grammar": ...}`; vLLM compiles Lark grammars with its `guidance` backend
(`--structured-outputs-config '{"backend": "guidance"}'`). An endpoint that rejects the field
(another server, or another backend) is reported once, with a warning, and is used unconstrained
from then on.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

from multiagentllm.models.backends.scripted import cut_at_stop


class BackendError(RuntimeError):
    """A model endpoint that cannot be reached or answered with an error; the message says which."""


@dataclass
class Endpoint:
    """Where one role is served. `model` may contain `{role}` (e.g. "umi-{role}")."""

    base_url: str
    model: str
    api_key: str | None = None


class OpenAIBackend:
    """`endpoints` maps a role to its `Endpoint`; the key "*" serves every role not named.

    Servers differ in how many stop strings they accept (OpenAI: 4), so at most `max_stop` are
    sent and every stop string is also applied here to the returned text. `extra_body` fields go
    with every request (e.g. vLLM's `return_token_ids`, `logprobs`), and `last_choices` keeps the
    choices of the latest request as the server sent them, for a caller that wants more than text."""

    def __init__(self, endpoints: dict[str, Endpoint] | Endpoint, *, timeout: float = 300.0,
                 max_stop: int | None = 4, transport=None, extra_body: dict[str, Any] | None = None):
        import httpx

        self.endpoints = endpoints if isinstance(endpoints, dict) else {"*": endpoints}
        self.max_stop = max_stop
        self.extra_body = dict(extra_body or {})
        self.last_choices: list[dict[str, Any]] = []
        self.client = httpx.Client(timeout=timeout, transport=transport)
        self.prompt_tokens = self.completion_tokens = 0
        self.unconstrained: dict[str, str] = {}  # endpoint URL -> why it takes no grammar

    constrains = True

    def endpoint(self, role: str) -> Endpoint:
        ep = self.endpoints.get(role) or self.endpoints.get("*")
        if ep is None:
            raise BackendError(f"no endpoint configured for role {role!r} "
                               f"(configured: {', '.join(sorted(self.endpoints))})")
        return ep

    def complete(self, prompts: list[str], *, role: str, max_new_tokens: int,
                 stop: list[str], constraint: Any = None) -> list[str]:
        """`constraint`: one grammar for every prompt, or one (or None) per prompt; prompts with
        different grammars go in separate requests."""
        grammars = constraint if isinstance(constraint, list) else [constraint] * len(prompts)
        if len(grammars) != len(prompts):
            raise ValueError(f"{len(grammars)} constraints for {len(prompts)} prompts")
        groups: dict[Any, list[int]] = {}
        for i, g in enumerate(grammars):
            groups.setdefault(g, []).append(i)
        out: list[str] = [""] * len(prompts)
        for grammar, rows in groups.items():
            texts = self._complete([prompts[i] for i in rows], role, max_new_tokens, stop, grammar)
            for i, text in zip(rows, texts):
                out[i] = text
        return out

    def _complete(self, prompts: list[str], role: str, max_new_tokens: int, stop: list[str],
                  grammar: Any) -> list[str]:
        import httpx

        ep = self.endpoint(role)
        url = ep.base_url.rstrip("/") + "/completions"
        body = {**self.extra_body, "model": ep.model.format(role=role), "prompt": prompts, "max_tokens": max_new_tokens,
                "temperature": 0, "stop": stop[: self.max_stop] if self.max_stop else stop}
        if grammar is not None and url not in self.unconstrained:
            body["structured_outputs"] = {"grammar": grammar.lark}
        headers = {"Authorization": f"Bearer {ep.api_key}"} if ep.api_key else {}
        try:
            resp = self.client.post(url, json=body, headers=headers)
            if resp.status_code in (400, 404, 422, 501) and "structured_outputs" in body:
                self.unconstrained[url] = f"{resp.status_code}: {resp.text[:200]}"
                warnings.warn(f"{url} rejected structured output ({self.unconstrained[url]}); decoding "
                              "goes on unconstrained for this endpoint (vLLM takes these grammars with "
                              "--structured-outputs-config '{\"backend\": \"guidance\"}')", stacklevel=3)
                del body["structured_outputs"]
                resp = self.client.post(url, json=body, headers=headers)
        except httpx.HTTPError as e:
            raise BackendError(f"cannot reach {url} for role {role!r}: {e}") from None
        if resp.status_code != 200:
            raise BackendError(f"{url} answered {resp.status_code} for role {role!r}: {resp.text[:300]}")
        try:
            data = resp.json()
            choices = sorted(data["choices"], key=lambda c: c.get("index", 0))
            texts = [c["text"] for c in choices]
            self.last_choices = choices
        except (ValueError, KeyError, TypeError) as e:
            raise BackendError(f"{url} returned no completions choices for role {role!r}: {e!r}") from None
        if len(texts) != len(prompts):
            raise BackendError(f"{url} returned {len(texts)} choices for {len(prompts)} prompts")
        usage = data.get("usage") or {}
        self.prompt_tokens += int(usage.get("prompt_tokens") or 0)
        self.completion_tokens += int(usage.get("completion_tokens") or 0)
        return [cut_at_stop(t, stop) for t in texts]

    def close(self) -> None:
        self.client.close()
