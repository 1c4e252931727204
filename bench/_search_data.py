"""Generated services for ``bench/search.py``: deterministic names, prices and ratings."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

CATEGORIES = [
    "Cleaning", "Plumbing", "Electrical", "Gardening", "Painting", "Tutoring", "Fitness",
    "Beauty", "Photography", "Music", "Moving", "Pet care", "Cooking", "Repairs",
    "Carpentry", "Roofing", "Wellness", "Design", "Translation", "Childcare",
]  # fmt: skip
TRADES = [
    "cleaner", "plumber", "electrician", "gardener", "painter", "tutor", "trainer",
    "stylist", "photographer", "teacher", "mover", "sitter", "chef", "handyman",
    "carpenter", "roofer", "therapist", "designer", "translator", "nanny", "mechanic",
    "tiler", "locksmith", "welder", "florist", "baker", "coach", "masseur", "barber",
]  # fmt: skip
ADJECTIVES = [
    "express", "premium", "friendly", "certified", "local", "expert", "budget", "quick",
    "reliable", "eco", "family", "professional", "weekend", "mobile", "classic", "modern",
]  # fmt: skip
WORDS = [
    "home", "office", "garden", "kitchen", "bathroom", "window", "floor", "wall", "roof",
    "lesson", "session", "repair", "install", "service", "care", "emergency", "daily",
    "weekly", "deep", "move", "paint", "fix", "lights", "wiring", "pipes", "boiler",
    "yoga", "piano", "guitar", "math", "english", "french", "wedding", "portrait",
    "dog", "cat", "party", "vegan", "bread", "furniture", "cabinet", "fence", "deck",
    "city", "north", "south", "east", "west", "center", "village", "river", "hill",
]  # fmt: skip
SYLLABLES = ["ka", "lo", "mi", "ra", "ten", "vo", "zu", "bel", "dor", "fin", "gra", "nel"]


def _brand(rng: random.Random) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3)))


def make_services(start: int, count: int, seed: int = 7) -> Iterator[Any]:
    """``count`` deterministic service snapshots (ids from ``start``)."""
    from plugins.bookings.events import ServiceSnapshot

    rng = random.Random(seed + start)
    base = datetime(2025, 1, 1, tzinfo=UTC)
    for i in range(start, start + count):
        trade = rng.choice(TRADES)
        created = base + timedelta(seconds=i * 37)
        yield ServiceSnapshot(
            id=f"{i:024x}",
            provider_id=f"{i % 5000:024x}",
            name=f"{rng.choice(ADJECTIVES).title()} {trade} {_brand(rng).title()}",
            description=" ".join(rng.choice(WORDS) for _ in range(8)),
            category=rng.choice(CATEGORIES),
            price=rng.randrange(1000, 50000, 50),
            currency="EUR",
            duration_minutes=60,
            active=True,
            images=[],
            timezone="UTC",
            rating_average=round(rng.uniform(1, 5), 2),
            rating_count=rng.randint(1, 50),
            revision=1,
            created_at=created,
            updated_at=created,
        )
