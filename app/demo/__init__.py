"""Demo data: a generator of realistic demand history and the seeder of a store."""

from app.demo.generator import (
    CHANNELS,
    KINDS,
    LOCATIONS,
    DemoData,
    DemoLine,
    Promotion,
    SkuProfile,
    generate_demand,
)
from app.demo.seed import DEMO_ORGANISATION, DemoSummary, seed_demo

__all__ = [
    "CHANNELS",
    "DEMO_ORGANISATION",
    "KINDS",
    "LOCATIONS",
    "DemoData",
    "DemoLine",
    "DemoSummary",
    "Promotion",
    "SkuProfile",
    "generate_demand",
    "seed_demo",
]
