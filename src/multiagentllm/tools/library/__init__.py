"""The built-in offline tools, one module per domain."""

from __future__ import annotations

from multiagentllm.tools.library import calendar, finance, knowledge, mathtools, retail, text, travel, units, weather

DOMAINS = {"travel": travel.TOOLS, "weather": weather.TOOLS, "calendar": calendar.TOOLS,
           "finance": finance.TOOLS, "units": units.TOOLS, "math": mathtools.TOOLS, "text": text.TOOLS,
           "knowledge": knowledge.TOOLS}
BUILTIN_TOOLS = [t for tools in DOMAINS.values() for t in tools]
# Domains over data that may be absent, so not in BUILTIN_TOOLS: each has its own registry.
DATA_DOMAINS = {"retail": retail.TOOLS}  # tau-bench retail: retail.retail_registry()
