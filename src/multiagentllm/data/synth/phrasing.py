"""Shared wording pools for synthetic instructions, rationales and answers.

Instructions are composed from independent parts (greeting, core request, constraints, closing),
each with several wordings, so one task yields many distinct surface forms.  Rationales and
answers pick wordings with the *variant* generator, so two variants of one instruction read
differently even where their actions agree.
"""

from __future__ import annotations

import random

PEOPLE = ["Ada Lovelace", "Alan Turing", "Grace Hopper", "Maria Garcia", "Wei Chen", "Priya Patel",
          "James Smith", "Fatima Khan", "Lucas Silva", "Emma Johnson", "Yuki Tanaka", "Omar Haddad",
          "Sofia Rossi", "Noah Williams", "Chloe Martin", "Ivan Petrov", "Amara Okafor", "Liam O'Brien",
          "Hana Kim", "Diego Ramirez", "Elena Popescu", "Kofi Mensah", "Sara Nilsson", "Raj Mehta"]

OPENERS = ["", "", "", "Hi! ", "Hello, ", "Hey, ", "Quick question: ", "Can you help? ", "Good morning. ",
           "I need a hand. ", "Hi there, ", "Question for you: "]
CLOSERS = ["", "", "", " Thanks!", " Thank you.", " Thanks in advance.", " Cheers.", " Appreciate it."]

RELATIVE_DAYS = ["next Monday", "next Tuesday", "next Wednesday", "next Thursday", "next Friday",
                 "next Saturday", "next Sunday", "tomorrow", "the day after tomorrow", "in 3 days",
                 "in 5 days", "in two weeks", "in 10 days", "this Friday", "this Saturday", "next week"]


def wrap(q: random.Random, core: str) -> str:
    """Greeting + request + closing; the request's first letter follows the greeting."""
    opener = q.choice(OPENERS)
    core = core.strip()
    if opener and opener.rstrip()[-1] in ",":
        core = core[0].lower() + core[1:] if not core.startswith("I ") else core
    return f"{opener}{core}{q.choice(CLOSERS)}"


def one(q: random.Random, *options: str) -> str:
    return q.choice(options)


def money(x: float, code: str = "USD") -> str:
    """'$375' for dollars, '15,500 JPY' otherwise (digits exactly as the tool gave them)."""
    value = int(x) if float(x).is_integer() else x
    text = f"{value:,}"
    return f"${text}" if code == "USD" else f"{text} {code}"


def listing(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


# Rationale openings: why a first call is needed (task-specific text follows).
FIRST = ["To answer this I first need {need}, so I will call {tool}.",
         "The request needs {need}; {tool} provides it.",
         "First step: get {need} with {tool}.",
         "I don't know {need} yet, so I'll look it up with {tool}.",
         "Let me start by getting {need} from {tool}.",
         "{tool} will give me {need}.",
         "I'll call {tool} to find {need}."]
THEN = ["Now that I have {have}, the next step is {next}.",
        "I now have {have}. Next I {next}.",
        "Got {have}. With that I can {next}.",
        "The tool returned {have}, so now I {next}.",
        "Using {have} from the last result, I {next}."]
DONE = ["I have everything needed: {have}. Time to answer.",
        "The result is {have}, which answers the request.",
        "The results give {have}; I can now write the answer.",
        "All steps are done ({have}), so I'll summarise for the user.",
        "That completes the task: {have}."]


def first(e_rng: random.Random, need: str, tool: str) -> str:
    return e_rng.choice(FIRST).format(need=need, tool=tool)


def then(e_rng: random.Random, have: str, next_: str) -> str:
    return e_rng.choice(THEN).format(have=have, have_cap=have[0].upper() + have[1:], next=next_)


def done(e_rng: random.Random, have: str) -> str:
    return e_rng.choice(DONE).format(have=have, have_cap=have[0].upper() + have[1:])
