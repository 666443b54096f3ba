"""Travel tasks: flight and hotel search and booking, alone and chained with dates and weather.

Each task reads its request parameters and wording from `q` (the instruction generator, the same
for every variant of one instruction) and its path and wording choices from `ep.rng`.
"""

from __future__ import annotations

import random

from multiagentllm.data.synth.episode import Episode, Skip
from multiagentllm.data.synth.phrasing import PEOPLE, RELATIVE_DAYS, done, first, money, one, then, wrap
from multiagentllm.tools.library.tables import CITIES

AIR_CITIES = [c.name for c in CITIES.values() if c.airport]


def route(q: random.Random) -> tuple[str, str]:
    a, b = q.sample(AIR_CITIES, 2)
    return a, b


def when(ep: Episode, phrase: str) -> str:
    """Resolve a date phrase with the calendar tool (or use an ISO date as given)."""
    if phrase[:4].isdigit():
        return phrase
    obs = ep.call("resolve_date", {"expression": phrase},
                  first(ep.rng, f"the calendar date of '{phrase}'", "resolve_date"))
    if not obs.ok:
        raise Skip(obs.content)
    return obs.data["date"]


def date_phrase(ep: Episode, q: random.Random) -> str:
    if q.random() < 0.8:
        return q.choice(RELATIVE_DAYS)
    d = ep.registry.world.today.toordinal() + q.randint(2, 40)
    from datetime import date

    return date.fromordinal(d).isoformat()


def search(ep: Episode, origin: str, dest: str, day: str, why: str) -> list[dict]:
    obs = ep.call("search_flights", {"origin": origin, "destination": dest, "date": day}, why)
    if not obs.ok or not obs.data["flights"]:
        raise Skip("no flights")
    return obs.data["flights"]


def flight_book(ep: Episode, q: random.Random) -> None:
    """The seed's example: search flights on a day, book the cheaper one, answer with the PNR."""
    a, b = route(q)
    phrase = date_phrase(ep, q)
    who = q.choice(PEOPLE)
    ep.ask(wrap(q, one(q,
        f"Search flights from {a} to {b} {phrase}, book the cheapest one for {who} and give me the booking reference.",
        f"I need to fly {a} to {b} {phrase}. Please book the cheapest flight for {who} and tell me the PNR.",
        f"Book the least expensive flight from {a} to {b} on {phrase} for passenger {who}.",
        f"Find me a flight {a} -> {b} for {phrase}; go with the lowest price and book it under {who}.",
        f"Can you get {who} on the cheapest {a} to {b} flight {phrase}? I need the confirmation code.",
        f"{who} has to travel from {a} to {b} {phrase}. Book whichever flight is cheapest.")))
    ep.offer("resolve_date", "search_flights", "book_flight")
    day = when(ep, phrase)
    flights = search(ep, a, b, day, then(ep.rng, f"the date {day}", f"search flights from {a} to {b} on that day")
                     if ep.steps else first(ep.rng, f"the flights from {a} to {b} on {day}", "search_flights"))
    best = min(flights, key=lambda f: (f["price_usd"], f["flight_id"]))
    others = [f for f in flights if f is not best]
    cheaper = f" (vs {money(others[0]['price_usd'])} for {others[0]['flight_id']})" if others else ""
    obs = ep.call("book_flight", {"flight_id": best["flight_id"], "passenger": who},
                  then(ep.rng, f"{len(flights)} flights; the cheapest is {best['flight_id']} at "
                       f"{money(best['price_usd'])}{cheaper}", f"book it for {who}"))
    if not obs.ok:
        raise Skip(obs.content)
    pnr = obs.data["pnr"]
    if ep.variant == 1:  # a different action sequence: confirm the booking before answering
        check = ep.call("get_booking", {"reference": pnr},
                        then(ep.rng, f"booking {pnr}", "double-check that the booking is confirmed"))
        if not check.ok:
            raise Skip(check.content)
    ep.answer(done(ep.rng, f"booking reference {pnr}"), one(ep.rng,
        f"Booked {best['airline']} flight {best['flight_id']} from {a} to {b} on {day} for {who} "
        f"(departs {best['depart']}, {money(best['price_usd'])}). Booking reference: {pnr}.",
        f"Done! {who} is on {best['flight_id']} ({best['airline']}), {day} at {best['depart']}, the cheapest "
        f"option at {money(best['price_usd'])}. Your PNR is {pnr}.",
        f"Your booking reference is {pnr}: {best['airline']} {best['flight_id']}, {a} to {b}, {day}, "
        f"{money(best['price_usd'])}."), [pnr, best["flight_id"], best["price_usd"]])


def flight_search(ep: Episode, q: random.Random) -> None:
    a, b = route(q)
    phrase = date_phrase(ep, q)
    goal = q.choice(["cheapest", "earliest", "latest"])
    ep.ask(wrap(q, one(q,
        f"What is the {goal} flight from {a} to {b} {phrase}?",
        f"Which {a}-{b} flight {phrase} is the {goal}?",
        f"Look up flights {a} to {b} for {phrase} and tell me the {goal} one.",
        f"I'm flying from {a} to {b} {phrase}. Find the {goal} departure.")))
    ep.offer("search_flights", "resolve_date", "get_weather")
    day = when(ep, phrase)
    flights = search(ep, a, b, day, first(ep.rng, f"the flights on {day}", "search_flights"))
    key = {"cheapest": lambda f: (f["price_usd"], f["depart"]), "earliest": lambda f: (f["depart"],),
           "latest": lambda f: (f["depart"],)}[goal]
    best = (max if goal == "latest" else min)(flights, key=key)
    ep.answer(done(ep.rng, f"{len(flights)} flights listed; the {goal} is {best['flight_id']}"), one(ep.rng,
        f"The {goal} flight from {a} to {b} on {day} is {best['airline']} {best['flight_id']}, departing "
        f"{best['depart']} and arriving {best['arrive']}, for {money(best['price_usd'])}.",
        f"{best['flight_id']} ({best['airline']}) is the {goal}: leaves {best['depart']}, lands {best['arrive']}, "
        f"costs {money(best['price_usd'])}."), [best["flight_id"], best["depart"], best["price_usd"]])


def hotel_book(ep: Episode, q: random.Random) -> None:
    city = q.choice(list(CITIES))
    phrase = date_phrase(ep, q)
    nights = q.randint(1, 6)
    who = q.choice(PEOPLE)
    pref = q.choice(["cheapest", "best-rated"])
    ep.ask(wrap(q, one(q,
        f"Book the {pref} hotel in {city} for {nights} night{'s' * (nights > 1)} from {phrase}, under {who}.",
        f"I need a room in {city}, checking in {phrase} for {nights} night{'s' * (nights > 1)}. Reserve the {pref} one for {who}.",
        f"Please reserve a {pref} hotel in {city}: check-in {phrase}, {nights} night{'s' * (nights > 1)}, guest {who}.",
        f"{who} is staying {nights} night{'s' * (nights > 1)} in {city} starting {phrase}. Book the {pref} hotel.")))
    ep.offer("search_hotels", "book_hotel", "resolve_date")
    day = when(ep, phrase)
    obs = ep.call("search_hotels", {"city": city, "check_in": day, "nights": nights},
                  first(ep.rng, f"hotel options in {city} from {day}", "search_hotels") if len(ep.steps) == 0
                  else then(ep.rng, f"check-in date {day}", f"search hotels in {city}"))
    if not obs.ok or not obs.data["hotels"]:
        raise Skip("no hotels")
    hotels = obs.data["hotels"]
    best = (min(hotels, key=lambda h: (h["total_usd"], h["hotel_id"])) if pref == "cheapest"
            else max(hotels, key=lambda h: (h["stars"], -h["total_usd"])))
    book = ep.call("book_hotel", {"hotel_id": best["hotel_id"], "guest": who, "check_in": day, "nights": nights},
                   then(ep.rng, f"{best['name']} ({best['stars']} stars, {money(best['total_usd'])} in total) as the "
                        f"{pref} option", f"reserve it for {who}"))
    if not book.ok:
        raise Skip(book.content)
    ref = book.data["confirmation"]
    ep.answer(done(ep.rng, f"confirmation {ref}"), one(ep.rng,
        f"Reserved {best['name']} in {city} for {who}: {nights} night(s) from {day}, {money(best['total_usd'])} "
        f"total. Confirmation code: {ref}.",
        f"Your stay is booked. Hotel: {best['name']} ({best['stars']} stars). Check-in {day}, {nights} night(s), "
        f"total {money(best['total_usd'])}. Confirmation: {ref}."), [ref, best["total_usd"]])


def flight_and_weather(ep: Episode, q: random.Random) -> None:
    a, b = route(q)
    phrase = q.choice([p for p in RELATIVE_DAYS if "two weeks" not in p])
    ep.ask(wrap(q, one(q,
        f"I'm flying from {a} to {b} {phrase}. What's the cheapest flight, and what weather should I expect there?",
        f"Find the cheapest {a}-{b} flight for {phrase} and tell me the forecast in {b} that day.",
        f"Cheapest flight {a} to {b} {phrase}, plus the weather at the destination, please.")))
    ep.offer("resolve_date", "search_flights", "get_weather", "get_forecast")
    day = when(ep, phrase)
    flights = search(ep, a, b, day, then(ep.rng, f"the date {day}", "search flights for it"))
    best = min(flights, key=lambda f: (f["price_usd"], f["flight_id"]))
    w = ep.call("get_weather", {"city": b, "date": day},
                then(ep.rng, f"the cheapest flight {best['flight_id']} at {money(best['price_usd'])}",
                     f"check the weather in {b} on {day}"))
    if not w.ok:
        raise Skip(w.content)
    wd = w.data
    ep.answer(done(ep.rng, "the flight and the forecast"), one(ep.rng,
        f"Cheapest flight: {best['airline']} {best['flight_id']} at {best['depart']} for {money(best['price_usd'])}. "
        f"Weather in {b} on {day}: {wd['condition']}, {wd['low_c']}-{wd['high_c']} °C.",
        f"Take {best['flight_id']} ({money(best['price_usd'])}, departs {best['depart']}). Expect {wd['condition']} "
        f"in {b}, highs of {wd['high_c']} °C and lows of {wd['low_c']} °C."),
        [best["flight_id"], best["price_usd"], wd["condition"], wd["high_c"]])


def trip(ep: Episode, q: random.Random) -> None:
    """Five calls: date, flight search, flight booking, hotel search, hotel booking."""
    a, b = route(q)
    phrase = q.choice(RELATIVE_DAYS)
    nights = q.randint(2, 5)
    who = q.choice(PEOPLE)
    ep.ask(wrap(q, one(q,
        f"Plan a trip for {who}: cheapest flight {a} to {b} {phrase}, and the cheapest hotel in {b} for {nights} nights from that day. Book both.",
        f"Book {who} the cheapest flight from {a} to {b} {phrase} and the cheapest hotel there for {nights} nights.",
        f"{who} is going to {b} from {a} {phrase} for {nights} nights. Book the cheapest flight and hotel.")))
    ep.offer("resolve_date", "search_flights", "book_flight", "search_hotels", "book_hotel")
    day = when(ep, phrase)
    flights = search(ep, a, b, day, then(ep.rng, f"the travel date {day}", "find flights"))
    best = min(flights, key=lambda f: (f["price_usd"], f["flight_id"]))
    fb = ep.call("book_flight", {"flight_id": best["flight_id"], "passenger": who},
                 then(ep.rng, f"the cheapest flight {best['flight_id']} ({money(best['price_usd'])})", "book it"))
    if not fb.ok:
        raise Skip(fb.content)
    hs = ep.call("search_hotels", {"city": b, "check_in": day, "nights": nights},
                 then(ep.rng, f"flight booked with PNR {fb.data['pnr']}", f"find a hotel in {b}"))
    if not hs.ok or not hs.data["hotels"]:
        raise Skip("no hotels")
    h = min(hs.data["hotels"], key=lambda x: (x["total_usd"], x["hotel_id"]))
    hb = ep.call("book_hotel", {"hotel_id": h["hotel_id"], "guest": who, "check_in": day, "nights": nights},
                 then(ep.rng, f"{h['name']} as the cheapest hotel ({money(h['total_usd'])})", "book it too"))
    if not hb.ok:
        raise Skip(hb.content)
    pnr, conf = fb.data["pnr"], hb.data["confirmation"]
    ep.answer(done(ep.rng, f"flight PNR {pnr} and hotel confirmation {conf}"),
              f"All booked for {who}. Flight {best['flight_id']} on {day}, {money(best['price_usd'])}, PNR {pnr}. "
              f"Hotel {h['name']} for {nights} nights, {money(h['total_usd'])}, confirmation {conf}.",
              [pnr, conf, best["price_usd"], h["total_usd"]])


TASKS = {"flight_book": (flight_book, 6, "travel"), "flight_search": (flight_search, 3, "travel"),
         "hotel_book": (hotel_book, 4, "travel"), "flight_and_weather": (flight_and_weather, 3, "travel"),
         "trip": (trip, 2, "travel")}
