"""How an episode ends. Every end is an exception carrying its status, raised from wherever the
limit was hit (mini-swe-agent style), caught once in `Agent.run`.

`solved` and `given_up` are the two outcomes a model chooses; the others are limits the runtime
enforces so that a weak model cannot loop, babble or hang forever.
"""

from __future__ import annotations

STATUSES = ("solved", "given_up", "max_steps", "format_error", "token_limit", "timeout", "stuck",
            "ungrounded", "needs_input")


class EpisodeEnd(Exception):
    """Base of every episode end; `status` is one of `STATUSES`."""

    status: str = ""

    def __init__(self, message: str = ""):
        super().__init__(message or self.status)
        self.message = message or self.status


class Solved(EpisodeEnd):
    status = "solved"


class GivenUp(EpisodeEnd):
    status = "given_up"


class StepLimit(EpisodeEnd):
    status = "max_steps"


class FormatLimit(EpisodeEnd):
    status = "format_error"


class TokenLimit(EpisodeEnd):
    status = "token_limit"


class TimeLimit(EpisodeEnd):
    status = "timeout"


class Stuck(EpisodeEnd):
    """The caller repeated a call the loop guard had already refused, with nothing observed to
    answer from."""

    status = "stuck"


class Ungrounded(EpisodeEnd):
    """The answer states values (references, codes, ids, numbers) that no observation holds."""

    status = "ungrounded"


class NeedsInput(EpisodeEnd):
    """A call needs a value (a passenger, an id) that neither the user nor a tool gave: the
    episode ends with a question to the user instead of a call with an invented value."""

    status = "needs_input"


class QueryError(ValueError):
    """A request the agent refuses before starting (empty, too long, unknown tool set)."""
