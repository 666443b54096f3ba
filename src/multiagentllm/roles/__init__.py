"""One module per role. The data builders and the agent runtime both import these, so the prompt a
model was trained on is the prompt it is run with; `roles.registry` names the roles and says which
module renders each turn."""

from multiagentllm.roles.render import PROMPT_VERSION, Rendered


class FormatError(ValueError):
    """A model output that does not follow its role's format; the message says what is wrong."""


__all__ = ["PROMPT_VERSION", "Rendered", "FormatError"]
