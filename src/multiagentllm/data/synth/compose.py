"""Synthesis v2: multi-step requests composed over a typed graph of the built-in tools.

The fixed families of `tasks_*.py` show the planner a few dozen chains. Here a request is built
from parts that connect through typed values, an output field of one tool feeding an argument of
another:

* a **subject**: a city or a country, named in the request ("Tokyo", "Japan") or reached by a
  call ("the capital of Japan" -> `country_info`, "the country Tokyo is in" -> `city_info`);
* one to three **asks** about it, each a short chain of calls ending in facts the answer must
  state (the weather there, its airport, the cheapest hotel there converted to the local
  currency, what its currency is worth...). A date phrase in an ask is resolved by
  `resolve_date` first, and a call made once (the country's facts) is reused, never repeated.

Rationales teach the stop condition the measured failures lack ("answer misses a fact": the
planner sent the summarizer after the first success): each one names what is still missing, and
the summarizer is called only once every ask has its facts ("Still needed: the local time;
next I call local_time." ... "Every requested fact is observed: ...").

The held-out families stay held out: no composition feeds a flight price to `convert_currency`,
a hotel total to `split_bill`, or a country's language to `translate_phrase` (`HELD_OUT_EDGES`,
checked on every episode).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from multiagentllm.data.synth.episode import Episode, Skip
from multiagentllm.data.synth.phrasing import RELATIVE_DAYS, listing, money, one, wrap
from multiagentllm.tools import Observation
from multiagentllm.tools.library.tables import CITIES, COUNTRIES, USD_RATES

MAX_CALLS = 5
# (producing tool, consuming tool): the chains of the held-out families (tasks_special.py).
HELD_OUT_EDGES = {("search_flights", "convert_currency"), ("search_hotels", "split_bill"),
                  ("country_info", "translate_phrase")}


@dataclass
class Subject:
    kind: str  # "city" | "country"
    name: str  # the city or country itself (known once `via` has been called)
    named: str  # what the request names: the subject, or the country/city it is found from
    via: str = ""  # the tool whose observation gives it ("" when the request names it)

    @property
    def phrase(self) -> str:
        if self.via == "country_info":
            return f"the capital of {self.named}"
        if self.via == "city_info":
            return f"the country {self.named} is in"
        return self.named


@dataclass(frozen=True)
class Ask:
    """One thing the request asks about its subject."""

    name: str
    kind: str  # the subject kind it applies to
    label: str  # what the rationales call it ("the local time")
    full: str  # the request's wording, naming the subject: {s}
    short: str  # the wording when the subject was already named ("there", "it")
    run: Callable[["Composer", Subject], tuple[list[Any], str]]  # facts and the answer's sentence
    needs_airport: bool = False


class Composer:
    """Plays one composed request through an Episode, reusing calls already made."""

    def __init__(self, ep: Episode, q: random.Random):
        self.ep, self.q = ep, q
        self.seen: dict[tuple[str, str], Observation] = {}
        self.remaining: list[str] = []
        self.have = ""
        self.plan: dict[str, Any] = {}

    def call(self, tool: str, args: dict[str, Any], need: str, *, feeds_from: str = "") -> dict[str, Any]:
        """Make a call (or reuse the same call's observation) and return its data."""
        if (feeds_from, tool) in HELD_OUT_EDGES:
            raise AssertionError(f"composition uses the held-out chain {feeds_from} -> {tool}")
        key = (tool, repr(sorted(args.items())))
        if key in self.seen:
            return self.seen[key].data
        if self.ep.calls_made >= MAX_CALLS:
            raise Skip("more than 5 calls")
        why = self._why(tool, need)
        obs = self.ep.call(tool, args, why)
        if not obs.ok:
            raise Skip(obs.content)
        self.seen[key] = obs
        return obs.data

    def _why(self, tool: str, need: str) -> str:
        r = self.ep.rng
        still = listing(self.remaining) if self.remaining else "the rest of the request"
        if not self.ep.steps:
            lead = r.choice(["The request asks for {asks}.", "I need to find {asks}.", "Asked: {asks}."])
            return (lead.format(asks=still) + " " + r.choice([
                "First I need {need}, so I call {tool}.", "To start, {tool} gives {need}.",
                "Step one: get {need} with {tool}."]).format(need=need, tool=tool))
        have = self.have or "the last result"
        return r.choice([
            "Got {have}. Still needed: {still}; next I need {need} from {tool}.",
            "I have {have}, but not yet {still}. Next: {need}, with {tool}.",
            "{have_cap} is known. {still_cap} remains, so I call {tool} for {need}.",
        ]).format(have=have, have_cap=have[0].upper() + have[1:], still=still,
                  still_cap=still[0].upper() + still[1:], need=need, tool=tool)

    def day(self, phrase: str, need: str = "") -> str:
        if phrase[:4].isdigit():
            return phrase
        d = self.call("resolve_date", {"expression": phrase}, need or f"the date of '{phrase}'")
        self.have = f"the date {d['date']}"
        return d["date"]

    def country_facts(self, s: Subject) -> dict[str, Any]:
        return self.call("country_info", {"country": s.name}, f"the facts about {s.name}", feeds_from=s.via)

    def city_facts(self, s: Subject) -> dict[str, Any]:
        return self.call("city_info", {"city": s.name}, f"the facts about {s.name}", feeds_from=s.via)


# --- asks ----------------------------------------------------------------------------------------

def _weather(c: Composer, s: Subject) -> tuple[list[Any], str]:
    w = c.call("get_weather", {"city": s.name}, f"the weather in {s.name}", feeds_from=s.via)
    c.have = f"{w['condition']}, {w['high_c']} °C in {s.name}"
    return [w["condition"], w["high_c"]], (f"Weather in {s.name} today: {w['condition']}, "
                                           f"high {w['high_c']} °C, low {w['low_c']} °C.")


def _local_time(c: Composer, s: Subject) -> tuple[list[Any], str]:
    t = c.call("local_time", {"city": s.name}, f"the local time in {s.name}", feeds_from=s.via)
    c.have = f"the time {t['time']} in {s.name}"
    return [t["time"]], f"It is {t['time']} in {s.name} ({t['date']})."


def _airport(c: Composer, s: Subject) -> tuple[list[Any], str]:
    info = c.city_facts(s)
    if not info.get("airport"):
        raise Skip("no airport")
    c.have = f"the airport {info['airport']}"
    return [info["airport"]], f"{s.name} is served by the airport {info['airport']}."


def _city_population(c: Composer, s: Subject) -> tuple[list[Any], str]:
    info = c.city_facts(s)
    c.have = f"{info['population_millions']} million people in {s.name}"
    return [info["population_millions"]], f"About {info['population_millions']} million people live in {s.name}."


def _hotel(c: Composer, s: Subject, *, convert: bool) -> tuple[list[Any], str]:
    nights, phrase = c.plan["nights"], c.plan["hotel_day"]
    day = c.day(phrase, f"the check-in date ({phrase})")
    h = c.call("search_hotels", {"city": s.name, "check_in": day, "nights": nights},
               f"the hotels in {s.name} from {day}", feeds_from=s.via)
    if not h["hotels"]:
        raise Skip("no hotels")
    best = min(h["hotels"], key=lambda x: (x["total_usd"], x["hotel_id"]))
    c.have = f"the cheapest hotel {best['name']} at {money(best['total_usd'])}"
    text = f"The cheapest hotel in {s.name} for {nights} nights from {day} is {best['name']} at {money(best['total_usd'])}"
    if not convert:
        return [best["name"], best["total_usd"]], text + "."
    cur = c.plan["currency"]
    x = c.call("convert_currency", {"amount": best["total_usd"], "from_currency": "USD", "to_currency": cur},
               f"{money(best['total_usd'])} in {cur}", feeds_from="search_hotels")
    c.have = f"{money(best['total_usd'])} = {money(x['result'], cur)}"
    return [best["name"], x["result"]], text + f", about {money(x['result'], cur)}."


def _flight(c: Composer, s: Subject) -> tuple[list[Any], str]:
    origin, phrase = c.plan["origin"], c.plan["flight_day"]
    if origin == s.name:
        raise Skip("origin is the destination")
    day = c.day(phrase, f"the travel date ({phrase})")
    f = c.call("search_flights", {"origin": origin, "destination": s.name, "date": day},
               f"the flights from {origin} to {s.name} on {day}", feeds_from=s.via)
    if not f["flights"]:
        raise Skip("no flights")
    best = min(f["flights"], key=lambda x: (x["price_usd"], x["flight_id"]))
    c.have = f"the cheapest flight {best['flight_id']} at {money(best['price_usd'])}"
    return [best["flight_id"], best["price_usd"]], (f"The cheapest flight from {origin} to {s.name} on {day} is "
                                                    f"{best['flight_id']} ({best['airline']}) at {money(best['price_usd'])}.")


def _country_fact(key: str, have: str, says: str) -> Callable[[Composer, Subject], tuple[list[Any], str]]:
    """An ask answered by one field of the country's facts: `have` and `says` are templates of
    {value} (and {name}, the country)."""
    def ask(c: Composer, s: Subject) -> tuple[list[Any], str]:
        value = c.country_facts(s)[key]
        c.have = have.format(value=value)
        return [value], says.format(name=s.name, value=value)
    return ask


_country_population = _country_fact("population_millions", "a population of {value} million",
                                    "{name} has about {value} million people.")
_language = _country_fact("language", "the language {value}", "The main language of {name} is {value}.")
_calling_code = _country_fact("calling_code", "the calling code {value}", "The calling code of {name} is {value}.")
_capital = _country_fact("capital", "the capital {value}", "The capital of {name} is {value}.")


def _currency(c: Composer, s: Subject) -> tuple[list[Any], str]:
    code = c.country_facts(s)["currency"]
    c.have = f"the currency code {code}"
    cur = c.call("currency_info", {"code": code}, f"what {code} is worth", feeds_from="country_info")
    c.have = f"{code}: {cur['name']}, {cur['usd_per_unit']} USD"
    return [cur["name"], cur["usd_per_unit"]], (f"{s.name} pays in {cur['name']} ({code}); one is worth "
                                                f"{cur['usd_per_unit']} US dollars.")


def _rate(c: Composer, s: Subject) -> tuple[list[Any], str]:
    code = c.country_facts(s)["currency"]
    if code == "USD":
        raise Skip("dollar to dollar")
    c.have = f"the currency code {code}"
    r = c.call("get_exchange_rate", {"base": "USD", "quote": code}, f"the USD to {code} rate", feeds_from="country_info")
    c.have = f"1 USD = {r['rate']} {code}"
    return [r["rate"]], f"One US dollar buys {r['rate']} {code} (the currency of {s.name})."


ASKS = [
    Ask("weather", "city", "the weather", "the weather in {s} today", "the weather there today", _weather),
    Ask("local_time", "city", "the local time", "the local time in {s}", "the local time there", _local_time),
    Ask("airport", "city", "the airport code", "the airport code of {s}", "its airport code", _airport),
    Ask("city_population", "city", "the population", "how many people live in {s}", "how many people live there",
        _city_population),
    Ask("hotel", "city", "the cheapest hotel", "the cheapest hotel in {s} for {nights} nights from {hotel_day}",
        "the cheapest hotel there for {nights} nights from {hotel_day}", lambda c, s: _hotel(c, s, convert=False)),
    Ask("hotel_converted", "city", "the cheapest hotel's price in {currency}",
        "what the cheapest hotel in {s} for {nights} nights from {hotel_day} costs in {currency}",
        "what the cheapest hotel there for {nights} nights from {hotel_day} costs in {currency}",
        lambda c, s: _hotel(c, s, convert=True)),
    Ask("flight", "city", "the cheapest flight", "the cheapest flight from {origin} to {s} {flight_day}",
        "the cheapest flight there from {origin} {flight_day}", _flight, needs_airport=True),
    Ask("country_population", "country", "the population", "the population of {s}", "its population",
        _country_population),
    Ask("language", "country", "the main language", "the main language of {s}", "the language spoken there", _language),
    Ask("calling_code", "country", "the calling code", "the phone calling code of {s}", "its calling code",
        _calling_code),
    Ask("capital", "country", "the capital", "the capital of {s}", "its capital", _capital),
    Ask("currency", "country", "the currency and its value", "which currency {s} uses and what it is worth in dollars",
        "which currency it uses and what that is worth in dollars", _currency),
    Ask("rate", "country", "the exchange rate", "how much of {s}'s currency one US dollar buys",
        "how much of its currency a dollar buys", _rate),
]
ASK_BY_NAME = {a.name: a for a in ASKS}
AIRPORTS = {c.name for c in CITIES.values() if c.airport}
CAPITALS = {c.capital: c.name for c in COUNTRIES.values()}


def _subject(q: random.Random, kind: str) -> Subject:
    """The subject as the request names it: itself, or (found by a call) by a relation."""
    if kind == "city":
        if q.random() < 0.5:
            country = q.choice([n for n, co in COUNTRIES.items() if co.capital in CITIES])
            return Subject("city", "", country, via="country_info")
        city = q.choice(list(CITIES))
        return Subject("city", city, city)
    if q.random() < 0.4:
        city = q.choice([n for n, ci in CITIES.items() if ci.country in COUNTRIES])
        return Subject("country", "", city, via="city_info")
    country = q.choice(list(COUNTRIES))
    return Subject("country", country, country)


def _resolve(c: Composer, s: Subject) -> str | None:
    """Make the call that finds a subject the request names by a relation; the answer's sentence."""
    if s.via == "country_info":
        s.name = c.call("country_info", {"country": s.named}, f"the capital of {s.named}")["capital"]
        c.have = f"the capital {s.name}"
        return f"The capital of {s.named} is {s.name}."
    if s.via == "city_info":
        s.name = c.call("city_info", {"city": s.named}, f"the country of {s.named}")["country"]
        c.have = f"the country {s.name}"
        return f"{s.named} is in {s.name}."
    return None


def composed(ep: Episode, q: random.Random) -> None:
    """A request of one to three asks about a subject, each ask a chain of calls."""
    c = Composer(ep, q)
    kind = q.choice(["city", "city", "country"])
    s = _subject(q, kind)
    options = [a for a in ASKS if a.kind == kind and (not a.needs_airport or s.name in AIRPORTS or s.via)]
    n = q.choice([1, 2, 2, 2, 3])
    asks = q.sample(options, min(n, len(options)))
    if s.via == "country_info" and any(a.name == "capital" for a in asks):
        raise Skip("asks for the capital of the capital")
    c.plan = {"hotel_day": q.choice(RELATIVE_DAYS) if q.random() < 0.7 else
              date.fromordinal(ep.registry.world.today.toordinal() + q.randint(3, 30)).isoformat(),
              "flight_day": q.choice(RELATIVE_DAYS),
              "origin": q.choice(sorted(AIRPORTS)),
              "currency": q.choice([k for k in USD_RATES if k != "USD"]), "nights": q.randint(2, 5)}
    fill = {**c.plan, "s": s.phrase}
    parts = [asks[0].full.format(**fill)] + [a.short.format(**fill) for a in asks[1:]]
    ep.ask(wrap(q, _sentence(q, parts)))
    c.remaining = [a.label.format(**fill) for a in asks]
    found = _resolve(c, s)
    facts: list[Any] = []
    sentences: list[str] = [found] if found else []
    for a in asks:
        f, text = a.run(c, s)
        facts += f
        sentences.append(text)
        c.remaining.pop(0)
    ep.answer(ep.rng.choice(["Every requested fact is observed: {have}. Time to answer.",
                             "All {n} asked parts are answered by the results; I can write the answer.",
                             "Nothing asked is missing now ({have}), so I'll summarise."]).format(
                                 have=listing([a.label.format(**fill) for a in asks]), n=len(asks)),
              " ".join(sentences), facts)


def _sentence(q: random.Random, parts: list[str]) -> str:
    """Join asks into one request: "What's X, and what's Y?" or "Tell me X and Y."."""
    if len(parts) == 1:
        return one(q, f"Please tell me {parts[0]}.", f"Could you look up {parts[0]}?", f"I need {parts[0]}.")
    return one(q, f"Tell me {parts[0]}, and {listing(parts[1:])}.",
               f"I'd like to know {listing(parts)}.",
               f"Could you find {parts[0]}? Also {listing(parts[1:])}.",
               f"Look up {parts[0]}; I also need {listing(parts[1:])}.")


TASKS = {"composed": (composed, 10, "composed")}
