"""Travel: flights and hotels in the world's SQLite database; bookings change that database."""

from __future__ import annotations

import math
from datetime import date

from multiagentllm.tools.library.tables import AIRLINE_CODES, AIRLINE_HOME, AIRLINES, HOTEL_WORDS, City, find_city
from multiagentllm.tools.registry import ToolError, tool
from multiagentllm.tools.world import World


def parse_date(value: str, what: str = "date") -> date:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise ToolError(f"{what} {value!r} is not an ISO date (YYYY-MM-DD)") from None


def _city(name: str) -> City:
    city = find_city(name)
    if city is None:
        raise ToolError(f"unknown city {name!r}")
    return city


def _airport_city(name: str) -> City:
    city = _city(name)
    if not city.airport:
        raise ToolError(f"{city.name} has no airport in the flight database")
    return city


def _distance_km(a: City, b: City) -> float:
    la1, lo1, la2, lo2 = map(math.radians, (a.lat, a.lon, b.lat, b.lon))
    h = math.sin((la2 - la1) / 2) ** 2 + math.cos(la1) * math.cos(la2) * math.sin((lo2 - lo1) / 2) ** 2
    return 2 * 6371 * math.asin(math.sqrt(h))


def _load_route(world: World, a: City, b: City, day: date) -> None:
    db = world.db
    key = (a.airport, b.airport, day.isoformat())
    if db.execute("SELECT 1 FROM routes_loaded WHERE origin=? AND destination=? AND date=?", key).fetchone():
        return
    rng = world.rng("flights", *key)
    km = _distance_km(a, b)
    minutes = int(km / 800 * 60 + 40)
    rows = []
    home = [x for x in AIRLINES if AIRLINE_HOME[x] in (a.country, b.country)]
    pool = home if len(home) >= 3 else home + [x for x in AIRLINES if x not in home and AIRLINE_HOME[x] != "United States"]
    for airline in rng.sample(pool, rng.randint(2, 3)):
        dep = rng.randrange(6 * 60, 21 * 60, 5)
        arr = (dep + minutes + int((b.utc_offset - a.utc_offset) * 60)) % (24 * 60)
        price = int(round((60 + km * rng.uniform(0.07, 0.14)) / 5) * 5)
        fid = f"{AIRLINE_CODES[airline]}{rng.randint(100, 9899)}"
        rows.append((fid, a.airport, b.airport, key[2], airline, f"{dep // 60:02d}:{dep % 60:02d}",
                     f"{arr // 60:02d}:{arr % 60:02d}", minutes, price, rng.randint(1, 9)))
    db.executemany("INSERT OR IGNORE INTO flights VALUES (?,?,?,?,?,?,?,?,?,?)", rows)
    db.execute("INSERT INTO routes_loaded VALUES (?,?,?)", key)


@tool(domain="travel")
def search_flights(world: World, origin: str, destination: str, date: str) -> dict:
    """Search direct flights between two cities on a day, cheapest first.

    Args:
        origin: Departure city or airport code, e.g. "New York" or "JFK".
        destination: Arrival city or airport code.
        date: Travel date, YYYY-MM-DD.
    """
    a, b = _airport_city(origin), _airport_city(destination)
    if a == b:
        raise ToolError("origin and destination are the same city")
    day = parse_date(date)
    if day < world.today:
        raise ToolError(f"date {day} is in the past (today is {world.today})")
    with world.lock:
        _load_route(world, a, b, day)
        rows = world.db.execute(
            "SELECT id, airline, depart, arrive, price, seats FROM flights WHERE origin=? AND "
            "destination=? AND date=? AND seats > 0 ORDER BY price, id",
            (a.airport, b.airport, day.isoformat())).fetchall()
    flights = [{"flight_id": r[0], "airline": r[1], "depart": r[2], "arrive": r[3], "price_usd": r[4],
                "seats_left": r[5]} for r in rows]
    return {"from": a.airport, "to": b.airport, "date": day.isoformat(), "flights": flights}


@tool(domain="travel")
def book_flight(world: World, flight_id: str, passenger: str) -> dict:
    """Book one seat on a flight found by search_flights; returns the booking reference (PNR).

    Args:
        flight_id: The flight_id from search_flights, e.g. "UA1234".
        passenger: Full name of the passenger.
    """
    if not passenger.strip():
        raise ToolError("passenger name is empty")
    with world.lock:
        row = world.db.execute("SELECT date, price, seats, origin, destination FROM flights WHERE id=?",
                               (flight_id,)).fetchone()
        if row is None:
            raise ToolError(f"no flight {flight_id!r}; search flights first and use a flight_id")
        day, price, seats, origin, destination = row
        if seats <= 0:
            raise ToolError(f"flight {flight_id} is full")
        ref = world.reference("flight", flight_id, passenger)
        world.db.execute("UPDATE flights SET seats = seats - 1 WHERE id=?", (flight_id,))
        world.db.execute("INSERT INTO bookings VALUES (?,?,?,?,?,?,?,?)",
                         (ref, "flight", flight_id, passenger.strip(), day, None, price, "confirmed"))
    return {"pnr": ref, "flight_id": flight_id, "route": f"{origin}-{destination}", "date": day,
            "passenger": passenger.strip(), "price_usd": price, "status": "confirmed"}


def _load_hotels(world: World, city: City) -> None:
    db = world.db
    if db.execute("SELECT 1 FROM cities_loaded WHERE city=?", (city.name,)).fetchone():
        return
    rng = world.rng("hotels", city.name)
    first, second = HOTEL_WORDS
    names = rng.sample([f"{a} {b}" for a in first for b in second], 3)
    rows = []
    for i, name in enumerate(names):
        stars = rng.randint(2, 5)
        rows.append((f"H-{(city.airport or city.name[:3]).upper()}-{i + 1}", city.name, name, stars,
                     int(round(rng.uniform(30, 55) * stars / 5) * 5)))
    db.executemany("INSERT INTO hotels VALUES (?,?,?,?,?)", rows)
    db.execute("INSERT INTO cities_loaded VALUES (?)", (city.name,))


@tool(domain="travel")
def search_hotels(world: World, city: str, check_in: str, nights: int = 1) -> dict:
    """Find hotels in a city with the total price for the stay, cheapest first.

    Args:
        city: City name.
        check_in: Check-in date, YYYY-MM-DD.
        nights: Number of nights (1-30).
    """
    c = _city(city)
    day = parse_date(check_in, "check_in")
    if day < world.today:
        raise ToolError(f"check_in {day} is in the past (today is {world.today})")
    if not 1 <= nights <= 30:
        raise ToolError("nights must be between 1 and 30")
    with world.lock:
        _load_hotels(world, c)
        rows = world.db.execute("SELECT id, name, stars, price_per_night FROM hotels WHERE city=? "
                                "ORDER BY price_per_night, id", (c.name,)).fetchall()
    return {"city": c.name, "check_in": day.isoformat(), "nights": nights,
            "hotels": [{"hotel_id": r[0], "name": r[1], "stars": r[2], "per_night_usd": r[3],
                        "total_usd": r[3] * nights} for r in rows]}


@tool(domain="travel")
def book_hotel(world: World, hotel_id: str, guest: str, check_in: str, nights: int = 1) -> dict:
    """Reserve a room in a hotel found by search_hotels; returns the confirmation code.

    Args:
        hotel_id: The hotel_id from search_hotels, e.g. "H-CDG-2".
        guest: Full name of the guest.
        check_in: Check-in date, YYYY-MM-DD.
        nights: Number of nights (1-30).
    """
    day = parse_date(check_in, "check_in")
    if day < world.today:
        raise ToolError(f"check_in {day} is in the past (today is {world.today})")
    if not 1 <= nights <= 30:
        raise ToolError("nights must be between 1 and 30")
    with world.lock:
        row = world.db.execute("SELECT name, price_per_night FROM hotels WHERE id=?", (hotel_id,)).fetchone()
        if row is None:
            raise ToolError(f"no hotel {hotel_id!r}; search hotels first and use a hotel_id")
        ref = world.reference("hotel", hotel_id, guest)
        world.db.execute("INSERT INTO bookings VALUES (?,?,?,?,?,?,?,?)",
                         (ref, "hotel", hotel_id, guest.strip(), day.isoformat(), nights,
                          row[1] * nights, "confirmed"))
    return {"confirmation": ref, "hotel": row[0], "check_in": day.isoformat(), "nights": nights,
            "guest": guest.strip(), "total_usd": row[1] * nights, "status": "confirmed"}


def _booking(world: World, reference: str) -> tuple:
    row = world.db.execute("SELECT ref, kind, item_id, name, date, nights, total, status FROM bookings "
                           "WHERE ref=?", (reference.strip().upper(),)).fetchone()
    if row is None:
        raise ToolError(f"no booking with reference {reference!r}")
    return row


@tool(domain="travel")
def get_booking(world: World, reference: str) -> dict:
    """Look up a flight or hotel booking by its reference.

    Args:
        reference: The PNR or confirmation code.
    """
    with world.lock:
        ref, kind, item, name, day, nights, total, status = _booking(world, reference)
    out = {"reference": ref, "type": kind, "item": item, "name": name, "date": day,
           "total_usd": total, "status": status}
    if nights:
        out["nights"] = nights
    return out


@tool(domain="travel")
def cancel_booking(world: World, reference: str) -> dict:
    """Cancel a booking; a cancelled flight seat goes back on sale.

    Args:
        reference: The PNR or confirmation code.
    """
    with world.lock:
        ref, kind, item, *_, status = _booking(world, reference)
        if status == "cancelled":
            raise ToolError(f"booking {ref} is already cancelled")
        world.db.execute("UPDATE bookings SET status='cancelled' WHERE ref=?", (ref,))
        if kind == "flight":
            world.db.execute("UPDATE flights SET seats = seats + 1 WHERE id=?", (item,))
    return {"reference": ref, "status": "cancelled"}


TOOLS = [search_flights, book_flight, search_hotels, book_hotel, get_booking, cancel_booking]
