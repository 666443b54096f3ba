"""Unit conversion: length, mass, volume, speed, time, data and temperature."""

from __future__ import annotations

from multiagentllm.tools.registry import ToolError, tool

# unit -> (dimension, factor to the dimension's base unit)
_FACTORS: dict[str, tuple[str, float]] = {
    "m": ("length", 1), "km": ("length", 1000), "cm": ("length", 0.01), "mm": ("length", 0.001),
    "mi": ("length", 1609.344), "yd": ("length", 0.9144), "ft": ("length", 0.3048), "in": ("length", 0.0254),
    "kg": ("mass", 1), "g": ("mass", 0.001), "lb": ("mass", 0.45359237), "oz": ("mass", 0.028349523125),
    "l": ("volume", 1), "ml": ("volume", 0.001), "gal": ("volume", 3.785411784), "cup": ("volume", 0.2365882365),
    "m/s": ("speed", 1), "km/h": ("speed", 1 / 3.6), "mph": ("speed", 0.44704), "kn": ("speed", 0.514444),
    "s": ("time", 1), "min": ("time", 60), "h": ("time", 3600), "day": ("time", 86400), "week": ("time", 604800),
    "b": ("data", 1), "kb": ("data", 1e3), "mb": ("data", 1e6), "gb": ("data", 1e9), "tb": ("data", 1e12),
}
_ALIASES = {"meter": "m", "meters": "m", "kilometer": "km", "kilometers": "km", "mile": "mi", "miles": "mi",
            "foot": "ft", "feet": "ft", "inch": "in", "inches": "in", "yard": "yd", "yards": "yd",
            "centimeter": "cm", "centimeters": "cm", "kilogram": "kg", "kilograms": "kg", "gram": "g",
            "grams": "g", "pound": "lb", "pounds": "lb", "lbs": "lb", "ounce": "oz", "ounces": "oz",
            "liter": "l", "liters": "l", "litre": "l", "litres": "l", "gallon": "gal", "gallons": "gal",
            "cups": "cup", "kph": "km/h", "hour": "h", "hours": "h", "minute": "min", "minutes": "min",
            "second": "s", "seconds": "s", "days": "day", "weeks": "week", "celsius": "c", "fahrenheit": "f",
            "kelvin": "k", "°c": "c", "°f": "f"}
_TEMPERATURE = {"c", "f", "k"}


def _unit(name: str) -> str:
    u = name.strip().lower()
    u = _ALIASES.get(u, u)
    if u not in _FACTORS and u not in _TEMPERATURE:
        raise ToolError(f"unknown unit {name!r}")
    return u


def _to_celsius(v: float, u: str) -> float:
    return {"c": v, "f": (v - 32) * 5 / 9, "k": v - 273.15}[u]


def _from_celsius(v: float, u: str) -> float:
    return {"c": v, "f": v * 9 / 5 + 32, "k": v + 273.15}[u]


def convert(value: float, src: str, dst: str) -> float:
    a, b = _unit(src), _unit(dst)
    if a in _TEMPERATURE or b in _TEMPERATURE:
        if not (a in _TEMPERATURE and b in _TEMPERATURE):
            raise ToolError(f"cannot convert {src} to {dst}: different kinds of quantity")
        return _from_celsius(_to_celsius(value, a), b)
    (da, fa), (db, fb) = _FACTORS[a], _FACTORS[b]
    if da != db:
        raise ToolError(f"cannot convert {src} ({da}) to {dst} ({db})")
    return value * fa / fb


@tool(domain="units")
def convert_units(value: float, from_unit: str, to_unit: str) -> dict:
    """Convert a quantity between units (km, mi, kg, lb, l, gal, mph, c, f, gb, ...).

    Args:
        value: The quantity to convert.
        from_unit: Unit of the value, e.g. "km" or "fahrenheit".
        to_unit: Unit to convert to.
    """
    result = convert(value, from_unit, to_unit)
    return {"value": value, "from": _unit(from_unit), "to": _unit(to_unit),
            "result": round(result, 2) if abs(result) >= 0.01 else float(f"{result:.3g}")}


TOOLS = [convert_units]
