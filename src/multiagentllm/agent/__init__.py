"""The alpha-UMi agent runtime: planner -> (caller -> tool -> observation)* -> summarizer | give up."""

from multiagentllm.agent.exits import STATUSES, EpisodeEnd, QueryError
from multiagentllm.agent.loop import Agent, AgentConfig, Event, Result, check_query

__all__ = ["Agent", "AgentConfig", "EpisodeEnd", "Event", "QueryError", "Result", "STATUSES", "check_query"]
