"""A server process for the two-process test: serves `RuleLLM` on a free loopback port and
prints the URL on its first line of output, then serves until it is terminated."""

import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from serve_helpers import RuleLLM, add, explode  # noqa: E402

from multiagentllm.serve import ServerThread, create_app  # noqa: E402
from multiagentllm.tools import ToolRegistry  # noqa: E402

if __name__ == "__main__":
    registry = ToolRegistry()
    registry.extend([add, explode])
    server = ServerThread(create_app(RuleLLM(), registry))
    print(server.start(), flush=True)
    threading.Event().wait()
