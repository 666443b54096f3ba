"""Calendar and date arithmetic relative to the world's fixed clock, and a per-world event list.

Date words follow one documented convention: "next Tuesday" and a bare "Tuesday" mean the first
Tuesday strictly after today; "this Tuesday" is today when today is a Tuesday, else the next one.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

from multiagentllm.tools.library.travel import parse_date
from multiagentllm.tools.registry import ToolError, tool
from multiagentllm.tools.world import World

WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august", "september",
          "october", "november", "december"]
_NUM_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "ten": 10}


def resolve(expression: str, today: date) -> date:
    """Turn a date expression into a date (raises ToolError when it is not understood)."""
    text = " ".join(expression.lower().replace(",", " ").split())
    fixed = {"today": 0, "tomorrow": 1, "yesterday": -1, "day after tomorrow": 2,
             "the day after tomorrow": 2, "next week": 7}
    if text in fixed:
        return today + timedelta(days=fixed[text])
    try:
        return date.fromisoformat(text)
    except ValueError:
        pass
    m = re.fullmatch(r"(next|this|coming|upcoming)?\s*(\w+)", text)
    if m and m.group(2) in WEEKDAYS:
        delta = (WEEKDAYS.index(m.group(2)) - today.weekday()) % 7
        if delta == 0 and m.group(1) != "this":
            delta = 7
        return today + timedelta(days=delta)
    m = re.fullmatch(r"in (\w+) (day|days|week|weeks)", text) or re.fullmatch(r"(\w+) (day|days|week|weeks) from now", text)
    if m:
        n = _NUM_WORDS.get(m.group(1)) or (int(m.group(1)) if m.group(1).isdigit() else None)
        if n is not None:
            return today + timedelta(days=n * (7 if m.group(2).startswith("week") else 1))
    m = re.fullmatch(r"(\d{1,2}) (\w+)|(\w+) (\d{1,2})(?:st|nd|rd|th)?", text)
    if m:
        day_s, month_s = (m.group(1), m.group(2)) if m.group(1) else (m.group(4), m.group(3))
        if month_s in MONTHS:
            try:
                return date(today.year, MONTHS.index(month_s) + 1, int(day_s))
            except ValueError:
                raise ToolError(f"{expression!r} is not a valid calendar date") from None
    raise ToolError(f"cannot understand the date {expression!r}; try 'next Tuesday', "
                    "'in 3 days', 'June 14' or YYYY-MM-DD")


def _day(d: date) -> dict:
    return {"date": d.isoformat(), "weekday": WEEKDAYS[d.weekday()].capitalize()}


@tool(domain="calendar")
def get_today(world: World) -> dict:
    """Today's date, weekday and local time (the assistant's clock)."""
    return {**_day(world.today), "time": world.now.strftime("%H:%M")}


@tool(domain="calendar")
def resolve_date(world: World, expression: str) -> dict:
    """Turn a relative date such as "next Tuesday", "tomorrow" or "in 3 days" into a calendar date.

    Args:
        expression: The date in words, e.g. "next Friday", or YYYY-MM-DD.
    """
    return _day(resolve(expression, world.today))


@tool(domain="calendar")
def add_days(start: str, days: int) -> dict:
    """Add (or, if negative, subtract) a number of days to a date.

    Args:
        start: Start date, YYYY-MM-DD.
        days: Days to add; negative goes back.
    """
    if abs(days) > 36500:
        raise ToolError("days must be within +/-36500")
    return _day(parse_date(start, "start") + timedelta(days=days))


@tool(domain="calendar")
def days_between(start: str, end: str) -> dict:
    """Number of days from one date to another (negative when end is before start).

    Args:
        start: First date, YYYY-MM-DD.
        end: Second date, YYYY-MM-DD.
    """
    a, b = parse_date(start, "start"), parse_date(end, "end")
    return {"start": a.isoformat(), "end": b.isoformat(), "days": (b - a).days,
            "weeks": round((b - a).days / 7, 1)}


@tool(domain="calendar")
def day_of_week(date: str) -> dict:
    """The weekday of a date.

    Args:
        date: The date, YYYY-MM-DD.
    """
    return _day(parse_date(date))


@tool(domain="calendar")
def create_event(world: World, title: str, date: str, time: str = "09:00") -> dict:
    """Add an event to the user's calendar.

    Args:
        title: What the event is.
        date: Day of the event, YYYY-MM-DD.
        time: Start time, HH:MM (24-hour).
    """
    day = parse_date(date)
    if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", time):
        raise ToolError(f"time {time!r} is not HH:MM (24-hour)")
    if not title.strip():
        raise ToolError("event title is empty")
    with world.lock:
        n = world.db.execute("SELECT COUNT(*) FROM events").fetchone()[0]
        event_id = f"EV{n + 1:03d}"
        world.db.execute("INSERT INTO events VALUES (?,?,?,?)", (event_id, title.strip(), day.isoformat(), time))
    return {"event_id": event_id, "title": title.strip(), **_day(day), "time": time, "status": "created"}


@tool(domain="calendar")
def list_events(world: World, date: str) -> dict:
    """Events in the user's calendar on a day.

    Args:
        date: The day, YYYY-MM-DD.
    """
    day = parse_date(date)
    with world.lock:
        rows = world.db.execute("SELECT id, title, time FROM events WHERE date=? ORDER BY time, id",
                                (day.isoformat(),)).fetchall()
    return {**_day(day), "events": [{"event_id": r[0], "title": r[1], "time": r[2]} for r in rows]}


TOOLS = [get_today, resolve_date, add_days, days_between, day_of_week, create_event, list_events]
