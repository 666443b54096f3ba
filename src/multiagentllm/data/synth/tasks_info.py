"""Information tasks: weather, knowledge base, money, units, math, calendar and text, alone and
chained (a later call's argument comes from an earlier observation)."""

from __future__ import annotations

import random
from datetime import timedelta

from multiagentllm.data.synth.episode import Episode, Skip
from multiagentllm.data.synth.phrasing import RELATIVE_DAYS, done, first, listing, money, one, then, wrap
from multiagentllm.tools.library.tables import CITIES, COUNTRIES, PHRASES, USD_RATES


def ok(obs):
    if not obs.ok:
        raise Skip(obs.content)
    return obs.data


def weather_city(ep: Episode, q: random.Random) -> None:
    city = q.choice(list(CITIES))
    unit = q.choice(["c", "c", "f"])
    uname = {"c": "Celsius", "f": "Fahrenheit"}[unit]
    day_word = q.choice(["today", "today", "tomorrow"])
    ep.ask(wrap(q, one(q,
        f"What's the weather in {city} {day_word}? Give temperatures in {uname}.",
        f"How warm will it be in {city} {day_word} (in {uname})?",
        f"Weather report for {city} {day_word}, please, in degrees {uname}.",
        f"Is it going to rain in {city} {day_word}? Also tell me the high in {uname}.",
        f"Tell me {city}'s weather {day_word} in {uname}.")))
    ep.offer("get_weather", "get_forecast", "convert_units")
    args = {"city": city}
    if day_word == "tomorrow":
        args["date"] = (ep.registry.world.today + timedelta(days=1)).isoformat()
    alt = ep.variant == 1 and unit == "f"  # alternative path: Celsius from the tool, then convert
    if unit == "f" and not alt:
        args["unit"] = "f"
    w = ok(ep.call("get_weather", args, first(ep.rng, f"the weather in {city} {day_word}", "get_weather")))
    if alt:
        hi = ok(ep.call("convert_units", {"value": w["high_c"], "from_unit": "c", "to_unit": "f"},
                        then(ep.rng, f"a high of {w['high_c']} °C", "convert it to Fahrenheit")))["result"]
        lo = ok(ep.call("convert_units", {"value": w["low_c"], "from_unit": "c", "to_unit": "f"},
                        then(ep.rng, f"{hi} °F for the high", "convert the low as well")))["result"]
    else:
        hi, lo = w[f"high_{unit}"], w[f"low_{unit}"]
    sym = "°F" if unit == "f" else "°C"
    rain = any(x in w["condition"] for x in ("rain", "shower", "storm"))
    ep.answer(done(ep.rng, f"{w['condition']} with a high of {hi} {sym}"), one(ep.rng,
        f"{city} on {w['date']}: {w['condition']}, high {hi} {sym}, low {lo} {sym}, humidity {w['humidity']}%.",
        f"Expect {w['condition']} in {city} ({w['date']}) with temperatures between {lo} and {hi} {sym}."
        + (" Bring an umbrella." if rain else " No rain expected."),
        f"In {city} it will be {w['condition']}; the high is {hi} {sym} and the low {lo} {sym}."),
        [w["condition"], hi, lo])


def weather_capital(ep: Episode, q: random.Random) -> None:
    country = q.choice(list(COUNTRIES))
    ep.ask(wrap(q, one(q,
        f"What's the weather like today in the capital of {country}?",
        f"How is the weather in {country}'s capital right now?",
        f"I'm heading to the capital of {country}. What's the weather there today?",
        f"Check today's weather in the capital city of {country}.")))
    ep.offer("country_info", "get_weather")
    info = ok(ep.call("country_info", {"country": country},
                      first(ep.rng, f"the capital of {country}", "country_info")))
    cap = info["capital"]
    w = ok(ep.call("get_weather", {"city": cap},
                   then(ep.rng, f"the capital, {cap}", f"get today's weather in {cap}")))
    ep.answer(done(ep.rng, f"{w['condition']} in {cap}"), one(ep.rng,
        f"The capital of {country} is {cap}. Today there: {w['condition']}, high {w['high_c']} °C, low {w['low_c']} °C.",
        f"{cap} ({country}'s capital) has {w['condition']} today, {w['low_c']}-{w['high_c']} °C."),
        [cap, w["condition"], w["high_c"]])


def weather_compare(ep: Episode, q: random.Random) -> None:
    a, b = q.sample(list(CITIES), 2)
    ep.ask(wrap(q, one(q,
        f"Which is warmer today, {a} or {b}?",
        f"Compare today's high temperatures in {a} and {b}.",
        f"Is it hotter in {a} or in {b} today?")))
    ep.offer("get_weather")
    first_city, second_city = (a, b) if ep.variant != 1 else (b, a)
    w1 = ok(ep.call("get_weather", {"city": first_city}, first(ep.rng, f"today's weather in {first_city}", "get_weather")))
    w2 = ok(ep.call("get_weather", {"city": second_city},
                    then(ep.rng, f"{first_city}'s high of {w1['high_c']} °C", f"get {second_city} for comparison")))
    hot, cold = (w1, w2) if w1["high_c"] >= w2["high_c"] else (w2, w1)
    verdict = (f"{hot['city']} is warmer today ({hot['high_c']} °C vs {cold['high_c']} °C)."
               if hot["high_c"] != cold["high_c"] else f"Both reach {hot['high_c']} °C today.")
    ep.answer(done(ep.rng, "both highs"), verdict + f" {w1['city']}: {w1['condition']}; {w2['city']}: {w2['condition']}.",
              [w1["high_c"], w2["high_c"]])


def forecast_rain(ep: Episode, q: random.Random) -> None:
    city = q.choice(list(CITIES))
    days = q.randint(2, 7)
    ep.ask(wrap(q, one(q,
        f"Will it rain in {city} in the next {days} days?",
        f"Give me the {days}-day forecast for {city}.",
        f"I'm in {city} for {days} days. Which days look rainy?")))
    ep.offer("get_forecast", "get_weather")
    f = ok(ep.call("get_forecast", {"city": city, "days": days},
                   first(ep.rng, f"a {days}-day forecast for {city}", "get_forecast")))["forecast"]
    wet = [d["date"] for d in f if any(x in d["condition"] for x in ("rain", "shower", "storm", "snow", "sleet"))]
    summary = "; ".join(f"{d['date']}: {d['condition']} {d['low_c']}-{d['high_c']} °C" for d in f)
    verdict = (f"Wet days: {listing(wet)}." if wet else "No rain in the forecast.")
    ep.answer(done(ep.rng, f"the forecast for {len(f)} days"), f"{verdict} {summary}.", wet or [f[0]["condition"]])


def country_fact(ep: Episode, q: random.Random) -> None:
    country = q.choice(list(COUNTRIES))
    field_, label = q.choice([("capital", "capital"), ("currency", "currency"), ("language", "main language"),
                              ("population_millions", "population"), ("calling_code", "international calling code"),
                              ("continent", "continent")])
    ep.ask(wrap(q, one(q, f"What is the {label} of {country}?", f"Tell me {country}'s {label}.",
                       f"Do you know the {label} of {country}?", f"{country}: what's its {label}?")))
    ep.offer("country_info", "city_info")
    info = ok(ep.call("country_info", {"country": country}, first(ep.rng, f"facts about {country}", "country_info")))
    value = info[field_]
    text = f"about {value} million people" if field_ == "population_millions" else str(value)
    ep.answer(done(ep.rng, f"the {label}: {value}"), one(ep.rng, f"The {label} of {country} is {text}.",
                                                         f"{country}'s {label}: {text}."), [value])


def local_time(ep: Episode, q: random.Random) -> None:
    city = q.choice(list(CITIES))
    ep.ask(wrap(q, one(q, f"What time is it in {city} right now?", f"Current local time in {city}?",
                       f"I need to call someone in {city}. What time is it there?")))
    ep.offer("local_time", "get_today", "city_info")
    t = ok(ep.call("local_time", {"city": city}, first(ep.rng, f"the local time in {city}", "local_time")))
    ep.answer(done(ep.rng, f"{t['time']} in {city}"),
              f"It is {t['time']} on {t['date']} in {t['city']} (UTC{t['utc_offset']:+g}).", [t["time"]])


def convert_money(ep: Episode, q: random.Random) -> None:
    a, b = q.sample(sorted(USD_RATES), 2)
    amount = q.choice([5, 10, 20, 25, 50, 75, 100, 150, 200, 250, 500, 1000, 1200, 2500])
    ep.ask(wrap(q, one(q, f"Convert {amount} {a} to {b}.", f"How much is {amount} {a} in {b}?",
                       f"What's {amount} {a} worth in {b}?", f"I have {amount} {a}. How many {b} is that?")))
    ep.offer("convert_currency", "get_exchange_rate", "calculate")
    if ep.variant == 1:  # alternative path: rate, then arithmetic
        r = ok(ep.call("get_exchange_rate", {"base": a, "quote": b}, first(ep.rng, f"the {a}/{b} rate", "get_exchange_rate")))
        c = ok(ep.call("calculate", {"expression": f"{amount} * {r['rate']}"},
                       then(ep.rng, f"a rate of {r['rate']}", f"multiply {amount} by it")))
        result, rate = c["result"], r["rate"]
    else:
        c = ok(ep.call("convert_currency", {"amount": amount, "from_currency": a, "to_currency": b},
                       first(ep.rng, f"the {a} to {b} conversion", "convert_currency")))
        result, rate = c["result"], c["rate"]
    ep.answer(done(ep.rng, f"{result} {b}"), one(ep.rng,
        f"{amount} {a} is about {money(result, b)} (rate {rate}).",
        f"At {rate} {b} per {a}, {amount} {a} comes to {money(result, b)}."), [result])


def country_money(ep: Episode, q: random.Random) -> None:
    country = q.choice([c for c in COUNTRIES.values() if c.currency != "USD"]).name
    amount = q.choice([20, 50, 100, 300, 500, 800, 1000])
    ep.ask(wrap(q, one(q,
        f"I'm travelling to {country} with {amount} US dollars. How much is that in the local currency?",
        f"How much local money do I get for {amount} USD in {country}?",
        f"Convert {amount} dollars into {country}'s currency.")))
    ep.offer("country_info", "convert_currency", "currency_info")
    info = ok(ep.call("country_info", {"country": country}, first(ep.rng, f"{country}'s currency", "country_info")))
    cur = info["currency"]
    c = ok(ep.call("convert_currency", {"amount": amount, "from_currency": "USD", "to_currency": cur},
                   then(ep.rng, f"the currency {cur}", f"convert {amount} USD to {cur}")))
    ep.answer(done(ep.rng, f"{c['result']} {cur}"),
              f"{country} uses {cur}; {amount} USD is about {money(c['result'], cur)} (rate {c['rate']}).",
              [cur, c["result"]])


_UNITS = [("km", "mi", [5, 10, 21.1, 42.2, 100]), ("mi", "km", [1, 3, 26.2, 60]), ("kg", "lb", [1, 2.5, 70, 80]),
          ("lb", "kg", [1, 5, 150, 200]), ("c", "f", [-10, 0, 21, 37, 100]), ("f", "c", [32, 50, 72, 98.6]),
          ("l", "gal", [1, 5, 20]), ("gal", "l", [1, 3, 10]), ("ft", "m", [6, 100, 1000]), ("in", "cm", [1, 12, 55]),
          ("km/h", "mph", [50, 100, 120]), ("mph", "km/h", [30, 65, 70]), ("gb", "mb", [1, 4, 16]),
          ("h", "min", [1.5, 2, 8]), ("oz", "g", [1, 8, 16]), ("cup", "ml", [1, 2, 3])]
_UNIT_WORDS = {"km": "kilometers", "mi": "miles", "kg": "kilograms", "lb": "pounds", "c": "degrees Celsius",
               "f": "degrees Fahrenheit", "l": "liters", "gal": "gallons", "ft": "feet", "m": "meters", "in": "inches",
               "cm": "centimeters", "km/h": "km/h", "mph": "mph", "gb": "GB", "mb": "MB", "h": "hours",
               "min": "minutes", "oz": "ounces", "g": "grams", "cup": "cups", "ml": "milliliters"}


def convert_units(ep: Episode, q: random.Random) -> None:
    src, dst, values = q.choice(_UNITS)
    v = q.choice(values)
    s, d = _UNIT_WORDS[src], _UNIT_WORDS[dst]
    ep.ask(wrap(q, one(q, f"Convert {v} {s} to {d}.", f"How many {d} is {v} {s}?", f"{v} {s} in {d}?",
                       f"What is {v} {s} expressed in {d}?")))
    ep.offer("convert_units", "calculate")
    r = ok(ep.call("convert_units", {"value": v, "from_unit": q.choice([src, s]) if src not in ("c", "f") else src,
                                     "to_unit": dst}, first(ep.rng, f"{v} {s} in {d}", "convert_units")))
    ep.answer(done(ep.rng, f"{r['result']} {d}"), one(ep.rng, f"{v} {s} is {r['result']} {d}.",
                                                      f"That's {r['result']} {d}."), [r["result"]])


def arithmetic(ep: Episode, q: random.Random) -> None:
    kind = q.choice(["percent_of", "expr", "area", "share"])
    if kind == "percent_of":
        p, x = q.choice([5, 12, 15, 18, 20, 25, 33]), q.choice([40, 80, 120, 240, 365, 1250, 999])
        text, expr = one(q, f"What is {p}% of {x}?", f"Calculate {p} percent of {x}.", f"{p}% of {x} is how much?"), f"{x} * {p} / 100"
    elif kind == "expr":
        a, b, c = q.randint(2, 99), q.randint(2, 99), q.randint(2, 12)
        text, expr = one(q, f"Compute ({a} + {b}) * {c}.", f"What's {a} plus {b}, times {c}?"), f"({a} + {b}) * {c}"
    elif kind == "area":
        r = q.choice([2, 3, 5, 7.5, 10])
        text, expr = one(q, f"What is the area of a circle with radius {r}?", f"Area of a circle, radius {r}?"), f"pi * {r} ** 2"
    else:
        total, n = q.choice([90, 145, 360, 1000, 2400]), q.choice([3, 4, 6, 7])
        text, expr = one(q, f"If {total} is shared equally among {n} people, how much does each get?",
                         f"Divide {total} by {n}."), f"{total} / {n}"
    ep.ask(wrap(q, text))
    ep.offer("calculate", "percentage")
    r = ok(ep.call("calculate", {"expression": expr}, first(ep.rng, f"the value of {expr}", "calculate")))
    ep.answer(done(ep.rng, f"the result {r['result']}"), one(ep.rng, f"The answer is {r['result']}.",
                                                             f"{expr} = {r['result']}."), [r["result"]])


def stats(ep: Episode, q: random.Random) -> None:
    nums = [q.randint(50, 100) for _ in range(q.randint(4, 8))]
    what = q.choice(["average", "median", "highest", "spread"])
    text = ", ".join(map(str, nums))
    ep.ask(wrap(q, one(q, f"My test scores are {text}. What's the {what}?", f"Here are some numbers: {text}. Give me the {what}.",
                       f"Find the {what} of {text}.")))
    ep.offer("describe_numbers", "calculate")
    s = ok(ep.call("describe_numbers", {"numbers": nums}, first(ep.rng, "summary statistics of the numbers", "describe_numbers")))
    key = {"average": "mean", "median": "median", "highest": "max", "spread": "stdev"}[what]
    ep.answer(done(ep.rng, f"{key} = {s[key]}"), f"The {what} is {s[key]} (mean {s['mean']}, min {s['min']}, max {s['max']}).",
              [s[key]])


def split_bill(ep: Episode, q: random.Random) -> None:
    total, people, tip = q.choice([48.5, 86, 120, 212.4, 75]), q.randint(2, 6), q.choice([0, 10, 15, 18, 20])
    ep.ask(wrap(q, one(q, f"Our dinner bill is ${total} for {people} people" + (f" and we tip {tip}%" if tip else "")
                       + ". How much does each person pay?",
                       f"Split ${total} between {people} friends" + (f" with a {tip}% tip" if tip else "") + ".")))
    ep.offer("split_bill", "calculate")
    s = ok(ep.call("split_bill", {"total": total, "people": people, "tip_percent": tip},
                   first(ep.rng, "the per-person share", "split_bill")))
    ep.answer(done(ep.rng, f"{s['per_person']} each"),
              f"Each person pays ${s['per_person']} (total with tip ${s['total_with_tip']}).", [s["per_person"]])


def date_question(ep: Episode, q: random.Random) -> None:
    phrase = q.choice(RELATIVE_DAYS)
    ep.ask(wrap(q, one(q, f"What's the date {phrase}?", f"Which date is {phrase}?", f"Give me the calendar date for {phrase}.")))
    ep.offer("resolve_date", "get_today", "day_of_week")
    d = ok(ep.call("resolve_date", {"expression": phrase}, first(ep.rng, f"the date of '{phrase}'", "resolve_date")))
    ep.answer(done(ep.rng, d["date"]), f"{phrase[0].upper() + phrase[1:]} is {d['weekday']}, {d['date']}.", [d["date"]])


def days_until(ep: Episode, q: random.Random) -> None:
    target = (ep.registry.world.today + timedelta(days=q.randint(3, 200))).isoformat()
    ep.ask(wrap(q, one(q, f"How many days are left until {target}?", f"How long from today until {target}?",
                       f"Count the days from now to {target}.")))
    ep.offer("get_today", "days_between", "add_days")
    t = ok(ep.call("get_today", {}, first(ep.rng, "today's date", "get_today")))
    d = ok(ep.call("days_between", {"start": t["date"], "end": target},
                   then(ep.rng, f"today is {t['date']}", f"count the days to {target}")))
    ep.answer(done(ep.rng, f"{d['days']} days"), f"There are {d['days']} days from today ({t['date']}) until {target}.", [d["days"]])


def date_math(ep: Episode, q: random.Random) -> None:
    start = (ep.registry.world.today + timedelta(days=q.randint(-30, 90))).isoformat()
    n = q.choice([7, 10, 14, 30, 45, 90, 100, -14, -30])
    ep.ask(wrap(q, one(q, f"What date is {abs(n)} days {'after' if n > 0 else 'before'} {start}?",
                       f"Add {n} days to {start}." if n > 0 else f"Go back {abs(n)} days from {start}.")))
    ep.offer("add_days", "day_of_week")
    r = ok(ep.call("add_days", {"start": start, "days": n}, first(ep.rng, "the shifted date", "add_days")))
    ep.answer(done(ep.rng, r["date"]), f"That is {r['weekday']}, {r['date']}.", [r["date"]])


def weekday(ep: Episode, q: random.Random) -> None:
    day = (ep.registry.world.today + timedelta(days=q.randint(-300, 300))).isoformat()
    ep.ask(wrap(q, one(q, f"What day of the week is {day}?", f"Which weekday falls on {day}?")))
    ep.offer("day_of_week", "resolve_date")
    r = ok(ep.call("day_of_week", {"date": day}, first(ep.rng, "the weekday", "day_of_week")))
    ep.answer(done(ep.rng, r["weekday"]), f"{day} is a {r['weekday']}.", [r["weekday"]])


def schedule(ep: Episode, q: random.Random) -> None:
    title = q.choice(["Dentist appointment", "Team meeting", "Call with Mom", "Gym session", "Project review",
                      "Lunch with Sam", "Piano lesson", "Doctor visit"])
    phrase = q.choice(RELATIVE_DAYS)
    hour = q.choice(["08:30", "09:00", "10:15", "13:00", "15:30", "18:00"])
    ep.ask(wrap(q, one(q, f"Add '{title}' to my calendar {phrase} at {hour}.", f"Schedule {title} for {phrase}, {hour}.",
                       f"Put {title} in my calendar on {phrase} at {hour} please.")))
    ep.offer("resolve_date", "create_event", "list_events")
    d = ok(ep.call("resolve_date", {"expression": phrase}, first(ep.rng, f"the date of '{phrase}'", "resolve_date")))
    e = ok(ep.call("create_event", {"title": title, "date": d["date"], "time": hour},
                   then(ep.rng, f"the date {d['date']}", "create the event")))
    if ep.variant == 1:
        ok(ep.call("list_events", {"date": d["date"]}, then(ep.rng, f"event {e['event_id']}", "confirm it is in the calendar")))
    ep.answer(done(ep.rng, f"event {e['event_id']} created"),
              f"Added '{title}' on {e['weekday']} {e['date']} at {hour} (event {e['event_id']}).", [e["event_id"], e["date"]])


def text_task(ep: Episode, q: random.Random) -> None:
    kind = q.choice(["count", "case", "slug", "translate"])
    samples = ["The quick brown fox jumps over the lazy dog.", "Small models can learn to use tools. They need good data!",
               "Meeting moved to Friday. Please confirm.", "release notes for version two", "a tale of two cities"]
    if kind == "translate":
        phrase, lang = q.choice(list(PHRASES)), q.choice(["Spanish", "French", "German", "Italian", "Japanese", "Dutch", "Portuguese"])
        ep.ask(wrap(q, one(q, f"How do you say '{phrase}' in {lang}?", f"Translate \"{phrase}\" into {lang}.")))
        ep.offer("translate_phrase", "change_case")
        r = ok(ep.call("translate_phrase", {"phrase": phrase, "language": lang}, first(ep.rng, "the translation", "translate_phrase")))
        ep.answer(done(ep.rng, r["translation"]), f"In {lang}, '{phrase}' is \"{r['translation']}\".", [r["translation"]])
        return
    text = q.choice(samples)
    if kind == "count":
        ep.ask(wrap(q, one(q, f"How many words are in this text: \"{text}\"", f"Count the words in: {text}")))
        ep.offer("count_words", "change_case")
        r = ok(ep.call("count_words", {"text": text}, first(ep.rng, "the word count", "count_words")))
        ep.answer(done(ep.rng, f"{r['words']} words"), f"The text has {r['words']} words and {r['characters']} characters.", [r["words"]])
    elif kind == "case":
        case = q.choice(["upper", "title"])
        ep.ask(wrap(q, one(q, f"Rewrite in {case} case: {text}", f"Convert \"{text}\" to {case} case.")))
        ep.offer("change_case", "slugify")
        r = ok(ep.call("change_case", {"text": text, "case": case}, first(ep.rng, f"the {case}-case text", "change_case")))
        ep.answer(done(ep.rng, "the rewritten text"), r["result"], [r["result"]])
    else:
        ep.ask(wrap(q, one(q, f"Make a URL slug for the title \"{text}\".", f"Slugify: {text}")))
        ep.offer("slugify", "change_case")
        r = ok(ep.call("slugify", {"text": text}, first(ep.rng, "the slug", "slugify")))
        ep.answer(done(ep.rng, r["slug"]), f"Slug: {r['slug']}", [r["slug"]])


TASKS = {"weather_city": (weather_city, 4, "weather"), "weather_capital": (weather_capital, 3, "weather"),
         "weather_compare": (weather_compare, 2, "weather"), "forecast_rain": (forecast_rain, 2, "weather"),
         "country_fact": (country_fact, 3, "knowledge"), "local_time": (local_time, 1.5, "knowledge"),
         "convert_money": (convert_money, 3, "finance"), "country_money": (country_money, 2, "finance"),
         "convert_units": (convert_units, 3, "units"), "arithmetic": (arithmetic, 2.5, "math"),
         "stats": (stats, 1.5, "math"), "split_bill": (split_bill, 1.5, "finance"),
         "date_question": (date_question, 2, "calendar"), "days_until": (days_until, 2, "calendar"),
         "date_math": (date_math, 1.5, "calendar"), "weekday": (weekday, 1, "calendar"),
         "schedule": (schedule, 2.5, "calendar"), "text": (text_task, 3, "text")}
