"""tau-bench scenarios -> first-person customer requests (rule-based; see `taubench.py`).

A scenario is written to a user simulator: "Your name is Omar Anderson and your zip code is
19031. You are logical, polite. Return #W6067464 via credit_card_4190576: Electric Kettle; Wall
Clock; ". The synthetic training tasks are made of a few clause templates, each rewritten here as
a request; any other text is kept with its pronouns turned round ("You've received" -> "I've
received"). `scenario_request` returns the request and which rewrite made it ("structured" or
"pronouns").
"""

from __future__ import annotations

import ast
import re

_EMAIL = r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"
_IDENTITY = re.compile(rf"^Your name is (?P<name>[^.,]+?) and your (?:zip code is (?P<zip>\d{{5}})|email is "
                       rf"(?P<email>{_EMAIL}))\.\s*")
_TRAITS = re.compile(r"(?:^|(?<=\. ))You are (?:[a-z-]+, )*[a-z-]+\.\s*")  # the persona's traits
_DICT = r"\{[^{}]*\}"
_CLAUSES = [
    ("return", re.compile(r"Return (?P<order>#W\d+) via (?P<pm>\w+): (?P<items>(?:[^;.#]+; )+)")),
    ("cancel", re.compile(r"Cancel order (?P<order>#W\d+) because (?P<reason>no longer needed|ordered by mistake)\. ")),
    ("payment", re.compile(r"For (?P<order>#W\d+), change payment to (?P<pm>\w+)\. ")),
    ("address", re.compile(rf"For (?P<order>#W\d+), change address to (?P<address>{_DICT}) "
                           r"\(same as (?P<same>#W\d+)\)\. ")),
    ("user_address", re.compile(rf"Change your default address to (?P<address>{_DICT}) \(same as (?P<same>#W\d+)\)\. ")),
    ("swap", re.compile(rf"For (?P<order>#W\d+), (?P<verb>exchange|modify) (?P<pairs>(?:[^{{}};]+ {_DICT} to "
                        rf"{_DICT}; )+)via (?P<pm>\w+)\. ")),
]
_PAIR = re.compile(rf"(?P<product>[^{{}};]+?) (?P<old>{_DICT}) to (?P<new>{_DICT}); ")


def identity(scenario: str) -> tuple[str, str | None, str | None] | None:
    """(name, email, zip code) of the scenario's first sentence; one of email and zip is None."""
    m = _IDENTITY.match(scenario)
    if m is None:
        return None
    return m["name"].strip(), m["email"], m["zip"]


def split_name(name: str) -> tuple[str, str]:
    first, _, last = name.strip().partition(" ")
    return first, last


def _options(text: str) -> str:
    opts = ast.literal_eval(text)
    return ", ".join(f"{k}: {v}" for k, v in opts.items())


def _address(text: str) -> str:
    a = ast.literal_eval(text)
    return ", ".join(x for x in (a.get("address1"), a.get("address2"), a.get("city"), a.get("state"), a.get("zip"),
                                 a.get("country")) if x)


def _list(names: list[str]) -> str:
    names = [f"the {n}" for n in names]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _clause(kind: str, m: re.Match) -> str:
    if kind == "return":
        items = [i.strip() for i in m["items"].split(";") if i.strip()]
        return f"Please return {_list(items)} from order {m['order']}, with the refund to {m['pm']}."
    if kind == "cancel":
        why = "it was ordered by mistake" if m["reason"] == "ordered by mistake" else "it is no longer needed"
        return f"Please cancel order {m['order']} because {why}."
    if kind == "payment":
        return f"Please pay order {m['order']} with {m['pm']} instead."
    if kind == "address":
        return (f"Please ship order {m['order']} to {_address(m['address'])} (the address of order "
                f"{m['same']}).")
    if kind == "user_address":
        return f"Please change my default address to {_address(m['address'])} (the address of order {m['same']})."
    swaps = []
    for p in _PAIR.finditer(m["pairs"]):
        new = _options(p["new"])
        target = f"the one with {new}" if new else "a new one with exactly the same options"
        swaps.append(f"the {p['product'].strip()} ({_options(p['old'])}) for {target}")
    what = "; and ".join(swaps)
    if m["verb"] == "exchange":
        return f"For order {m['order']}, which I received, please exchange {what}; use {m['pm']} for the price difference."
    return f"For my pending order {m['order']}, please change {what}; use {m['pm']} for the price difference."


def _structured(rest: str) -> list[str] | None:
    """The clauses of a synthetic scenario as requests, or None when any text is not a clause."""
    rest = rest.strip() + " "
    out = []
    while rest.strip():
        for kind, pattern in _CLAUSES:
            m = pattern.match(rest)
            if m:
                out.append(_clause(kind, m))
                rest = rest[m.end():].lstrip()  # still ends with " " when not empty
                break
        else:
            return None
    return out


_SWAPS = [  # second person -> first person, longest first; case kept for a capital first letter
    (r"you're", "I'm"), (r"you've", "I've"), (r"you'd", "I'd"), (r"you'll", "I'll"), (r"you are", "I am"),
    (r"you were", "I was"), (r"yourself", "myself"), (r"yours", "mine"), (r"your", "my"),
]
_OBJECT = re.compile(r"\b(to|for|with|at|from|ask|asks|tell|tells|give|gives|help|helps|of|about|than|let|"
                     r"unsubscribe) you\b", re.I)  # "you" as an object -> "me"


def _first_person(text: str) -> str:
    for pattern, repl in _SWAPS:
        def sub(m: re.Match, repl: str = repl) -> str:
            return repl[0].upper() + repl[1:] if m.group(0)[0].isupper() else repl
        text = re.sub(rf"\b{pattern}\b", sub, text, flags=re.I)
    text = _OBJECT.sub(r"\1 me", text)
    return re.sub(r"\byou\b", "I", re.sub(r"\bYou\b", "I", text))


def scenario_request(scenario: str) -> tuple[str, str]:
    """(the request, "structured" | "pronouns"): see the module docstring."""
    text = " ".join(scenario.split())
    m = _IDENTITY.match(text)
    who, rest = "", text
    if m:
        contact = f"my email is {m['email']}" if m["email"] else f"my zip code is {m['zip']}"
        who, rest = f"My name is {m['name'].strip()} and {contact}.", text[m.end():]
    rest = _TRAITS.sub("", rest, count=1)
    clauses = _structured(rest) if m else None
    if clauses:
        return " ".join([who, *clauses]), "structured"
    body = _first_person(rest)
    return (f"{who} {body}".strip() if who else _first_person(_TRAITS.sub("", text, count=1))), "pronouns"
