"""Any OpenAI-compatible completions endpoint as an `LLM`, one endpoint (or model name) per role.

The runtime renders the prompt itself, so it uses the plain completions API (`/v1/completions`
with `prompt`, `stop`, `max_tokens`, `temperature=0`), not chat: the server must not wrap the
text in a chat template the roles were not trained with. vLLM serves the three role adapters of
one base as multi-LoRA models; llama.cpp's server and the project's own server speak the same API.
"""

from __future__ import annotations

from dataclasses import dataclass

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
    sent and every stop string is also applied here to the returned text."""

    def __init__(self, endpoints: dict[str, Endpoint] | Endpoint, *, timeout: float = 300.0,
                 max_stop: int | None = 4, transport=None):
        import httpx

        self.endpoints = endpoints if isinstance(endpoints, dict) else {"*": endpoints}
        self.max_stop = max_stop
        self.client = httpx.Client(timeout=timeout, transport=transport)
        self.prompt_tokens = self.completion_tokens = 0

    def endpoint(self, role: str) -> Endpoint:
        ep = self.endpoints.get(role) or self.endpoints.get("*")
        if ep is None:
            raise BackendError(f"no endpoint configured for role {role!r} "
                               f"(configured: {', '.join(sorted(self.endpoints))})")
        return ep

    def complete(self, prompts: list[str], *, role: str, max_new_tokens: int,
                 stop: list[str]) -> list[str]:
        import httpx

        ep = self.endpoint(role)
        url = ep.base_url.rstrip("/") + "/completions"
        body = {"model": ep.model.format(role=role), "prompt": prompts, "max_tokens": max_new_tokens,
                "temperature": 0, "stop": stop[: self.max_stop] if self.max_stop else stop}
        headers = {"Authorization": f"Bearer {ep.api_key}"} if ep.api_key else {}
        try:
            resp = self.client.post(url, json=body, headers=headers)
        except httpx.HTTPError as e:
            raise BackendError(f"cannot reach {url} for role {role!r}: {e}") from None
        if resp.status_code != 200:
            raise BackendError(f"{url} answered {resp.status_code} for role {role!r}: {resp.text[:300]}")
        try:
            data = resp.json()
            choices = sorted(data["choices"], key=lambda c: c.get("index", 0))
            texts = [c["text"] for c in choices]
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
