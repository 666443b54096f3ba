"""Live view of an episode in the terminal: each rationale, call, observation and the answer as
they happen (an `Agent` `on_event` callback)."""

from __future__ import annotations

from rich.console import Console
from rich.panel import Panel
from rich.text import Text

from multiagentllm.agent.loop import Event

OBSERVATION_CHARS = 600
_END_STYLE = {"solved": "bold green", "given_up": "bold yellow"}


class LiveView:
    """Prints one block per event; `console` defaults to stdout."""

    def __init__(self, console: Console | None = None):
        self.console = console or Console()
        self.step = 0

    def __call__(self, event: Event) -> None:
        show = getattr(self, f"_{event.kind}", None)
        if show is not None:
            show(event)

    def _plan(self, e: Event) -> None:
        self.step += 1
        label = {"caller": "Caller", "summarizer": "Summarizer", "give_up": "Give up"}[e.data["next"]]
        body = Text(e.text or "(no rationale)")
        body.append(f"\nNext: {label}", style="bold")
        self.console.print(Panel(body, title=f"step {self.step} · planner", title_align="left",
                                 border_style="cyan"))

    def _call(self, e: Event) -> None:
        self.console.print(Text.assemble(("  call ", "bold magenta"), (e.text, "magenta")))

    def _observation(self, e: Event) -> None:
        text = e.text if len(e.text) <= OBSERVATION_CHARS else e.text[:OBSERVATION_CHARS] + " …"
        label = "rejected call" if e.data.get("rejected") else "observation"
        style = "green" if e.data.get("ok") else "red"
        self.console.print(Text.assemble((f"  {label} ", f"bold {style}"), (text, style)))

    def _format_error(self, e: Event) -> None:
        self.console.print(Text.assemble((f"  {e.data['role']} format error ", "bold red"),
                                         (e.text, "red")))

    def _answer(self, e: Event) -> None:
        self.console.print(Panel(Text(e.text), title="answer", title_align="left", border_style="green"))

    def _guard(self, e: Event) -> None:
        self.console.print(Text.assemble(("  loop guard ", "bold yellow"), (e.text, "yellow")))

    def _ungrounded(self, e: Event) -> None:
        self.console.print(Text.assemble(("  not backed by any tool result: ", "bold red"), (e.text, "red")))

    def _tools(self, e: Event) -> None:
        self.console.print(Text.assemble(("tools offered ", "dim bold"), (e.text, "dim")))

    def _end(self, e: Event) -> None:
        status = e.data["status"]
        self.console.print(Text.assemble(("status: ", "bold"), (status, _END_STYLE.get(status, "bold red")),
                                         (f"  ({e.text})" if e.text and e.text != status else "", "dim")))
