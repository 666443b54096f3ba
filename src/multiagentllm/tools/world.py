"""Per-episode state of the built-in tools: a fixed clock, a seed and an SQLite database.

Everything a tool returns is a function of (seed, clock, the calls made so far in this world), so
the same episode replayed in a fresh `World` gives the same observations.  The travel inventory is
materialised lazily (a search inserts that route's flights for that day), which keeps a fresh world
cheap enough to create one per episode.
"""

from __future__ import annotations

import hashlib
import random
import sqlite3
import threading
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

DEFAULT_NOW = datetime(2024, 6, 5, 9, 0)  # a Wednesday; configurable per world

SCHEMA = """
CREATE TABLE flights (id TEXT PRIMARY KEY, origin TEXT, destination TEXT, date TEXT, airline TEXT,
                      depart TEXT, arrive TEXT, duration_min INTEGER, price INTEGER, seats INTEGER);
CREATE TABLE routes_loaded (origin TEXT, destination TEXT, date TEXT,
                            PRIMARY KEY (origin, destination, date));
CREATE TABLE hotels (id TEXT PRIMARY KEY, city TEXT, name TEXT, stars INTEGER, price_per_night INTEGER);
CREATE TABLE cities_loaded (city TEXT PRIMARY KEY);
CREATE TABLE bookings (ref TEXT PRIMARY KEY, kind TEXT, item_id TEXT, name TEXT, date TEXT,
                       nights INTEGER, total INTEGER, status TEXT);
CREATE TABLE events (id TEXT PRIMARY KEY, title TEXT, date TEXT, time TEXT);
"""


def stable_rng(*parts: Any) -> random.Random:
    """A random generator seeded by the parts' text (stable across processes, unlike hash())."""
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


@dataclass
class World:
    seed: int = 0
    now: datetime = DEFAULT_NOW
    _db: sqlite3.Connection | None = field(default=None, init=False, repr=False)
    lock: threading.RLock = field(default_factory=threading.RLock, init=False, repr=False)

    def __post_init__(self) -> None:
        if isinstance(self.now, str):
            self.now = datetime.fromisoformat(self.now)
        elif isinstance(self.now, date) and not isinstance(self.now, datetime):
            self.now = datetime(self.now.year, self.now.month, self.now.day, 9, 0)

    @property
    def today(self) -> date:
        return self.now.date()

    @property
    def db(self) -> sqlite3.Connection:
        # check_same_thread=False: calls run in a timeout thread; `lock` serialises them.
        if self._db is None:
            self._db = sqlite3.connect(":memory:", check_same_thread=False)
            self._db.executescript(SCHEMA)
        return self._db

    def rng(self, *parts: Any) -> random.Random:
        return stable_rng(self.seed, *parts)

    def reference(self, kind: str, *parts: Any) -> str:
        """A booking reference (PNR-like, 6 characters) that is unique within this world."""
        alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
        count = self.db.execute("SELECT COUNT(*) FROM bookings").fetchone()[0]
        rng = self.rng(kind, count, *parts)
        while True:
            ref = "".join(rng.choice(alphabet) for _ in range(6))
            if not self.db.execute("SELECT 1 FROM bookings WHERE ref = ?", (ref,)).fetchone():
                return ref

    def to_dict(self) -> dict[str, Any]:
        """What a replay needs to rebuild this world (stored in a trajectory's meta["env"])."""
        return {"seed": self.seed, "now": self.now.isoformat(timespec="minutes")}
