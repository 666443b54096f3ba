"""Give-up episodes, answers without tools, and the held-out (test-only) task families.

The held-out families combine tools in ways no training family does (country facts + phrasebook,
flight prices + currency conversion, hotel totals + bill splitting), so the test split measures
instructions *and* tool combinations the models never saw.
"""

from __future__ import annotations

import random

from multiagentllm.data.synth.episode import Episode
from multiagentllm.data.synth.phrasing import PEOPLE, RELATIVE_DAYS, done, first, money, one, then, wrap
from multiagentllm.data.synth.tasks_info import ok
from multiagentllm.data.synth.tasks_travel import route, search, when
from multiagentllm.tools.library.tables import CITIES, COUNTRIES, PHRASES

UNSUPPORTED = [
    ("Book a train ticket from {a} to {b} {d}.", "train tickets", "search_flights"),
    ("Order a large pepperoni pizza to my home.", "food ordering", "calculate"),
    ("Send an email to {p} saying I'll be late.", "sending email", "create_event"),
    ("What's the current stock price of Apple?", "stock prices", "convert_currency"),
    ("Play some jazz music in the living room.", "playing music", "get_today"),
    ("Rent me a car in {a} for {d}.", "car rental", "search_hotels"),
    ("Call a taxi to take me to the airport.", "taxi booking", "local_time"),
    ("Turn off the lights in the bedroom.", "smart-home control", "get_weather"),
    ("Transfer 200 dollars to {p}'s bank account.", "bank transfers", "convert_currency"),
    ("Find me a restaurant in {a} with a table for four tonight.", "restaurant reservations", "search_hotels"),
    ("Who won the football match last night?", "sports results", "get_today"),
    ("Buy two tickets for the cinema tonight.", "cinema tickets", "create_event"),
]
GIVE_UP = ["None of the available tools can handle {what}; {near} is the closest but does something else. I cannot do this.",
           "The request needs {what}, and no tool offers that. Giving up rather than guessing.",
           "I only have tools like {near}, which do not cover {what}. I have to stop here.",
           "There is no tool for {what}, so I can't complete this request."]
FAKE_PLACES = ["Atlantis", "Gotham", "Narnia", "El Dorado", "Springfield Heights", "Wakanda", "Mordor", "Zion City"]


def unsupported(ep: Episode, q: random.Random) -> None:
    template, what, near = q.choice(UNSUPPORTED)
    a, b = q.sample(list(CITIES), 2)
    ep.ask(wrap(q, template.format(a=a, b=b, d=q.choice(RELATIVE_DAYS), p=q.choice(PEOPLE).split()[0])))
    ep.offer(near, *q.sample(["get_weather", "calculate", "convert_units", "country_info", "resolve_date"], 2))
    ep.give_up(ep.pick(GIVE_UP).format(what=what, near=near))


def unknown_place(ep: Episode, q: random.Random) -> None:
    place = q.choice(FAKE_PLACES)
    ep.ask(wrap(q, one(q, f"What's the weather in {place} today?", f"Is it sunny in {place}?",
                       f"Tell me the temperature in {place}.")))
    ep.offer("get_weather", "city_info")
    obs = ep.fail("get_weather", {"city": place}, first(ep.rng, f"the weather in {place}", "get_weather"))
    if ep.variant == 1:
        ep.fail("city_info", {"city": place}, then(ep.rng, f"an error ({obs.error})",
                                                  f"check whether {place} is a known city at all"))
    ep.give_up(ep.pick([f"The weather service has no station for {place}, so I cannot answer.",
                        f"{place} is not a place the tools know; I have to give up.",
                        f"No data exists for {place}. Stopping instead of inventing a forecast."]))


def no_airport(ep: Episode, q: random.Random) -> None:
    city = q.choice([c.name for c in CITIES.values() if not c.airport])
    other = q.choice([c.name for c in CITIES.values() if c.airport])
    ep.ask(wrap(q, f"Find a flight from {city} to {other} {q.choice(RELATIVE_DAYS)}."))
    ep.offer("search_flights", "resolve_date")
    day = (ep.registry.world.today.toordinal() + 3)
    from datetime import date

    ep.fail("search_flights", {"origin": city, "destination": other, "date": date.fromordinal(day).isoformat()},
            first(ep.rng, f"flights from {city}", "search_flights"))
    ep.give_up(ep.pick([f"{city} has no airport in the flight database, so there are no flights to offer.",
                        f"The search failed because {city} is not served by any airport the tool knows; I cannot book this."]))


def chat(ep: Episode, q: random.Random) -> None:
    """Requests answered without tools: greetings, thanks, and what the assistant can do."""
    kind = q.choice(["hello", "thanks", "capabilities"])
    tools = q.sample(["get_weather", "search_flights", "convert_currency", "resolve_date", "country_info", "calculate"], 3)
    ep.offer(*tools)
    if kind == "hello":
        ep.ask(one(q, "Hi!", "Hello there.", "Good morning!", "Hey, how are you?"))
        ep.answer(ep.pick(["A greeting needs no tool; I'll reply directly.", "No tool call is needed for a greeting."]),
                  ep.pick(["Hello! How can I help you today?", "Hi! What can I do for you?"]), [])
    elif kind == "thanks":
        ep.ask(one(q, "Thanks, that's all I needed.", "Great, thank you!", "Perfect, thanks a lot."))
        ep.answer(ep.pick(["The user is just thanking me; I answer without tools.", "Nothing to look up here."]),
                  ep.pick(["You're welcome! Have a great day.", "Glad I could help!"]), [])
    else:
        ep.ask(one(q, "What can you do?", "Which tools do you have?", "How can you help me?"))
        ep.answer(ep.pick(["The tool list answers this; no call is needed.", "I can answer from the tools I have."]),
                  f"I can use these tools: {', '.join(tools)}. Ask me something they can help with.", tools)


# --- held-out families (meta["split"] = "test") -------------------------------------------------

def say_in_country(ep: Episode, q: random.Random) -> None:
    country = q.choice([c for c in COUNTRIES.values() if c.language.lower() in
                        {"spanish", "french", "german", "italian", "japanese", "dutch", "portuguese"}]).name
    phrase = q.choice(list(PHRASES))
    ep.ask(wrap(q, one(q, f"I'm visiting {country}. How do I say '{phrase}' in the local language?",
                       f"What's '{phrase}' in the main language of {country}?")))
    ep.offer("country_info", "translate_phrase")
    info = ok(ep.call("country_info", {"country": country}, first(ep.rng, f"the language of {country}", "country_info")))
    t = ok(ep.call("translate_phrase", {"phrase": phrase, "language": info["language"]},
                   then(ep.rng, f"the language {info['language']}", f"translate '{phrase}'")))
    ep.answer(done(ep.rng, t["translation"]), f"In {country} they speak {info['language']}: '{phrase}' is \"{t['translation']}\".",
              [info["language"], t["translation"]])


def flight_local_price(ep: Episode, q: random.Random) -> None:
    a, b = route(q)
    phrase = q.choice(RELATIVE_DAYS)
    cur = q.choice(["EUR", "GBP", "JPY", "CAD", "AUD", "INR", "MXN"])
    ep.ask(wrap(q, one(q, f"How much is the cheapest flight from {a} to {b} {phrase}, in {cur}?",
                       f"Find the cheapest {a}-{b} flight {phrase} and give me its price in {cur}.")))
    ep.offer("resolve_date", "search_flights", "convert_currency")
    day = when(ep, phrase)
    best = min(search(ep, a, b, day, then(ep.rng, f"the date {day}", "search flights")), key=lambda f: (f["price_usd"], f["flight_id"]))
    c = ok(ep.call("convert_currency", {"amount": best["price_usd"], "from_currency": "USD", "to_currency": cur},
                   then(ep.rng, f"the cheapest fare {money(best['price_usd'])} on {best['flight_id']}", f"convert it to {cur}")))
    ep.answer(done(ep.rng, f"{c['result']} {cur}"),
              f"The cheapest flight is {best['flight_id']} at {money(best['price_usd'])}, about {money(c['result'], cur)}.",
              [best["flight_id"], c["result"]])


def hotel_share(ep: Episode, q: random.Random) -> None:
    city = q.choice(list(CITIES))
    nights, people = q.randint(2, 6), q.randint(2, 5)
    day = (ep.registry.world.today.toordinal() + q.randint(3, 30))
    from datetime import date

    iso = date.fromordinal(day).isoformat()
    ep.ask(wrap(q, f"{people} of us want the cheapest hotel in {city} from {iso} for {nights} nights. How much would each person pay?"))
    ep.offer("search_hotels", "split_bill")
    h = ok(ep.call("search_hotels", {"city": city, "check_in": iso, "nights": nights}, first(ep.rng, "hotel prices", "search_hotels")))
    best = min(h["hotels"], key=lambda x: (x["total_usd"], x["hotel_id"]))
    s = ok(ep.call("split_bill", {"total": best["total_usd"], "people": people},
                   then(ep.rng, f"the cheapest total {money(best['total_usd'])} at {best['name']}", f"split it {people} ways")))
    ep.answer(done(ep.rng, f"${s['per_person']} each"),
              f"The cheapest is {best['name']} at {money(best['total_usd'])} for {nights} nights: ${s['per_person']} per person.",
              [best["total_usd"], s["per_person"]])


TASKS = {"give_up_unsupported": (unsupported, 2.5, "none"), "give_up_unknown_place": (unknown_place, 1, "weather"),
         "give_up_no_airport": (no_airport, 0.7, "travel"), "chat": (chat, 1.2, "none"),
         "say_in_country": (say_in_country, 1.5, "text", "test"),
         "flight_local_price": (flight_local_price, 1.5, "travel", "test"),
         "hotel_share": (hotel_share, 1.2, "travel", "test")}
