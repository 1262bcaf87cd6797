"""Two years of synthetic daily demand, deterministic given a seed.

The history is made to have what forecasts, alerts and trend changes need to
show something real: weekday and yearly seasonality, rising, falling and
turning trends, promotions, slow intermittent items, returns and cancellations.
Everything is drawn from one ``numpy`` generator, so a seed gives the same data.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import NamedTuple

import numpy as np

from app.store.types import utcnow

CURRENCY = "EUR"
# One location per channel: the DC ships the web shop, the store sells over the counter.
LOCATIONS = ("north-dc", "south-store")
CHANNELS = ("web", "store")
KINDS = ("smooth", "trend_up", "trend_down", "trend_change", "promo", "intermittent")
# Shares of the catalogue by kind, in the order of KINDS.
_KIND_SHARES = (0.22, 0.15, 0.12, 0.14, 0.15, 0.22)
# Weekday profiles, Monday first: web orders peak early in the week, the store on Saturday.
_WEEKDAY = np.array(
    [
        [1.20, 1.10, 1.00, 0.95, 0.90, 0.80, 1.05],
        [0.75, 0.80, 0.90, 1.00, 1.20, 1.55, 0.80],
    ]
)
_WEEKDAY /= _WEEKDAY.mean(axis=1, keepdims=True)
_ADJECTIVES = (
    "Classic", "Compact", "Eco", "Deluxe", "Nordic", "Urban", "Alpine", "Coastal",
    "Vintage", "Smart", "Pro", "Mini", "Family", "Travel", "Studio", "Garden",
    "Winter", "Summer", "Heritage", "Everyday",
)  # fmt: skip
_NOUNS = (
    "Desk Lamp", "Water Bottle", "Backpack", "Notebook", "Coffee Mug", "Throw Blanket",
    "Umbrella", "Candle", "Tea Towel", "Plant Pot", "Picnic Set", "Scarf", "Phone Case",
    "Lunch Box", "Doormat", "Wall Clock", "Cushion", "Bird Feeder", "Cutting Board",
    "Thermos",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Promotion:
    """A multi-day promotion of one SKU in every location; ``end`` is inclusive."""

    start: dt.date
    end: dt.date
    uplift: float


@dataclass(frozen=True, slots=True)
class SkuProfile:
    """The shape planted in one SKU's demand, for tests and for explaining the demo.

    Levels are mean units a day at the start of the history, before seasonality.
    ``growth`` is the yearly log-growth, ``growth_after`` the one after
    ``change_date`` (equal to ``growth`` when the trend never turns).
    """

    sku: str
    product_name: str
    kind: str
    unit_price: Decimal
    levels: tuple[float, float]
    growth: float
    growth_after: float
    change_date: dt.date | None
    yearly_amplitude: float
    yearly_peak_day: int
    promotions: tuple[Promotion, ...]
    # Chance of any demand on a day, per location; only for intermittent items.
    occurrence: tuple[float, float] | None


class DemoLine(NamedTuple):
    """One canonical demand line (see the design's canonical demand line).

    A named tuple rather than a dataclass: there are some 200k of them, and
    tuples are several times cheaper to build.
    """

    order_id: str
    line_id: str
    order_date: dt.date
    sku: str
    product_name: str
    quantity: Decimal
    unit_price: Decimal
    currency: str
    location: str
    channel: str
    status: str
    customer_id: str | None
    source_updated_at: dt.datetime


@dataclass(frozen=True)
class DemoData:
    """Generated demand lines with the profiles behind them; iterates over the lines."""

    start: dt.date
    end: dt.date
    profiles: tuple[SkuProfile, ...]
    lines: tuple[DemoLine, ...]

    def __iter__(self) -> Iterator[DemoLine]:
        return iter(self.lines)

    def __len__(self) -> int:
        return len(self.lines)

    def series(self) -> list[tuple[str, str, str]]:
        """The (sku, location, product_name) of every series the lines make."""
        seen = {(line.sku, line.location): line.product_name for line in self.lines}
        return [(sku, location, name) for (sku, location), name in sorted(seen.items())]


@functools.lru_cache(maxsize=4096)
def _units(quantity: int) -> Decimal:
    # Shared instances: a few hundred distinct values across ~200k lines.
    return Decimal(quantity)


def _kinds(rng: np.random.Generator, skus: int) -> list[str]:
    counts = [int(share * skus) for share in _KIND_SHARES]
    for i in range(skus - sum(counts)):
        counts[i % len(counts)] += 1
    kinds = [kind for kind, count in zip(KINDS, counts, strict=True) for _ in range(count)]
    return [kinds[i] for i in rng.permutation(skus)]


def _names(rng: np.random.Generator, skus: int) -> list[str]:
    combos = [f"{adjective} {noun}" for adjective in _ADJECTIVES for noun in _NOUNS]
    order = rng.permutation(len(combos))
    names = []
    for i in range(skus):
        name = combos[order[i % len(combos)]]
        names.append(name if i < len(combos) else f"{name} {i // len(combos) + 1}")
    return names


def _promotions(rng: np.random.Generator, start: dt.date, days: int) -> tuple[Promotion, ...]:
    # At most one promotion per six-week block, none in the first, so each has history before it.
    blocks = days // 42
    if blocks < 2:
        return ()
    count = min(blocks - 1, max(1, round(days / 365 * rng.uniform(2, 4))))
    promotions = []
    for block in np.sort(rng.choice(np.arange(1, blocks), size=count, replace=False)):
        first = int(block) * 42 + int(rng.integers(0, 8))
        length = int(rng.integers(5, 15))
        if first + length <= days:
            promotions.append(
                Promotion(
                    start=start + dt.timedelta(days=first),
                    end=start + dt.timedelta(days=first + length - 1),
                    uplift=round(float(rng.uniform(1.8, 3.0)), 2),
                )
            )
    return tuple(promotions)


def _profiles(rng: np.random.Generator, skus: int, start: dt.date, days: int) -> list[SkuProfile]:
    profiles = []
    for i, (kind, name) in enumerate(zip(_kinds(rng, skus), _names(rng, skus), strict=True)):
        # Regular items sell at least a few a day; slower ones are the intermittent kind.
        web = float(np.clip(rng.lognormal(np.log(12), 0.7), 4, 150))
        levels = (web, web * float(rng.uniform(0.35, 0.85)))
        growth = float(rng.uniform(-0.05, 0.05))
        growth_after, change_date, occurrence = growth, None, None
        promotions: tuple[Promotion, ...] = ()
        if kind == "trend_up":
            growth = growth_after = float(rng.uniform(0.3, 0.7))
        elif kind == "trend_down":
            growth = growth_after = float(rng.uniform(-0.6, -0.3))
        elif kind == "trend_change":
            sign = 1.0 if rng.random() < 0.5 else -1.0
            growth = sign * float(rng.uniform(0.35, 0.7))
            growth_after = -sign * float(rng.uniform(0.5, 0.9))
            # Late enough to be recent news, early enough for months of the new direction.
            change_date = start + dt.timedelta(days=int(days * rng.uniform(0.55, 0.75)))
        elif kind == "promo":
            promotions = _promotions(rng, start, days)
        elif kind == "intermittent":
            p = float(rng.uniform(0.03, 0.12))
            occurrence = (p, p * float(rng.uniform(0.4, 0.9)))
            levels = (float(rng.uniform(1.0, 10.0)), float(rng.uniform(1.0, 6.0)))
            growth = growth_after = 0.0
        seasonal = kind != "intermittent" and rng.random() < 0.7
        amplitude = float(rng.uniform(0.15, 0.45)) if seasonal else 0.0
        # Most seasonal items peak in summer or before Christmas; the rest anywhere.
        peak = int(rng.choice([182, 345, int(rng.integers(1, 366))], p=[0.4, 0.35, 0.25]))
        price = Decimal(str(round(float(rng.lognormal(np.log(25), 0.7)), 2)))
        profiles.append(
            SkuProfile(
                sku=f"SKU-{i + 1:04d}",
                product_name=name,
                kind=kind,
                unit_price=price,
                levels=levels,
                growth=growth,
                growth_after=growth_after,
                change_date=change_date,
                yearly_amplitude=round(amplitude, 3),
                yearly_peak_day=peak,
                promotions=promotions,
                occurrence=occurrence,
            )
        )
    return profiles


def _weekday_index(dates: np.ndarray) -> np.ndarray:
    # Day 0 of datetime64 is 1970-01-01, a Thursday; Monday is 0.
    return (dates.astype("datetime64[D]").view("int64") + 3) % 7


def _expected(profile: SkuProfile, dates: np.ndarray, start: dt.date) -> np.ndarray:
    """Mean daily units, shape (locations, days), before noise."""
    days = len(dates)
    t = np.arange(days) / 365.25
    if profile.change_date is None:
        log_trend = profile.growth * t
    else:
        c = (profile.change_date - start).days / 365.25
        log_trend = np.where(
            t < c, profile.growth * t, profile.growth * c + profile.growth_after * (t - c)
        )
    doy = (dates - dates.astype("datetime64[Y]")).astype(int) + 1
    yearly = 1 + profile.yearly_amplitude * np.cos(
        2 * np.pi * (doy - profile.yearly_peak_day) / 365.25
    )
    # A small shared pre-Christmas lift on top of each item's own season.
    yearly *= 1 + 0.15 * np.exp(-0.5 * ((doy - 345) / 15) ** 2)
    promo = np.ones(days)
    for promotion in profile.promotions:
        a, b = (promotion.start - start).days, (promotion.end - start).days + 1
        promo[a:b] = promotion.uplift
        # Customers stocked up: demand dips for a week after.
        promo[b : b + 7] = np.minimum(promo[b : b + 7], 0.85)
    weekday = _WEEKDAY[:, _weekday_index(dates)]
    shape = np.exp(log_trend) * yearly * promo
    return np.array(profile.levels)[:, None] * shape[None, :] * weekday


def _quantities(
    rng: np.random.Generator, profiles: list[SkuProfile], start: dt.date, days: int
) -> np.ndarray:
    """Units per (sku, location, day), integers >= 0."""
    dates = np.datetime64(start, "D") + np.arange(days)
    quantities = np.zeros((len(profiles), len(LOCATIONS), days), dtype=np.int64)
    size = (len(LOCATIONS), days)
    for i, profile in enumerate(profiles):
        if profile.occurrence is None:
            mean = _expected(profile, dates, start)
            # Gamma-Poisson: counts more dispersed than Poisson, as real sales are.
            shape = float(rng.uniform(4, 12))
            quantities[i] = rng.poisson(mean * rng.gamma(shape, 1 / shape, size=size))
        else:
            chance = np.array(profile.occurrence)[:, None] * _WEEKDAY[:, _weekday_index(dates)]
            hits = rng.random(size) < chance
            # Geometric order sizes around the item's mean lump: mostly small, now and then big.
            p = 1 / (1 + np.array(profile.levels))[:, None]
            quantities[i] = hits * (1 + rng.negative_binomial(1, p, size=size))
    return quantities


def _lines(
    rng: np.random.Generator, profiles: list[SkuProfile], quantities: np.ndarray, start: dt.date
) -> list[DemoLine]:
    skus, locations, days = quantities.shape
    discounted = [(p.unit_price * Decimal("0.8")).quantize(Decimal("0.01")) for p in profiles]
    on_promo = np.zeros((skus, days), dtype=bool)
    for i, profile in enumerate(profiles):
        for promotion in profile.promotions:
            on_promo[i, (promotion.start - start).days : (promotion.end - start).days + 1] = True
    # Web orders ship within hours, tills upload within minutes; order hours are bounded so
    # that a line's last change falls on its order date.
    order_hours = ((0, 18), (9, 20))
    lags = ((3600, 6 * 3600), (30, 300))
    lines: list[DemoLine] = []
    counters = [100000, 500000]
    for day in range(days):
        order_date = start + dt.timedelta(days=day)
        midnight = dt.datetime.combine(order_date, dt.time(), tzinfo=dt.UTC)
        for loc in range(locations):
            selling = rng.permutation(np.flatnonzero(quantities[:, loc, day]))
            n = selling.size
            if n == 0:
                continue
            # Baskets of one to a few lines: geometric sizes, at least n of them.
            sizes = rng.geometric(0.45, size=n)
            lo, hi = order_hours[loc]
            seconds = rng.integers(lo * 3600, hi * 3600, size=n)
            updated = seconds + rng.integers(*lags[loc], size=n)
            customers = rng.integers(1, 20001, size=n)
            anonymous = rng.random(n) < (0.0, 0.75)[loc]
            pos = order = 0
            while pos < n:
                counters[loc] += 1
                order_id = f"{('WEB', 'POS')[loc]}-{counters[loc]:07d}"
                customer = None if anonymous[order] else f"C{customers[order]:06d}"
                stamp = midnight + dt.timedelta(seconds=int(updated[order]))
                for line_no, i in enumerate(selling[pos : pos + sizes[order]], start=1):
                    profile = profiles[i]
                    lines.append(
                        DemoLine(
                            order_id=order_id,
                            line_id=str(line_no),
                            order_date=order_date,
                            sku=profile.sku,
                            product_name=profile.product_name,
                            quantity=_units(int(quantities[i, loc, day])),
                            unit_price=discounted[i] if on_promo[i, day] else profile.unit_price,
                            currency=CURRENCY,
                            location=LOCATIONS[loc],
                            channel=CHANNELS[loc],
                            status="fulfilled",
                            customer_id=customer,
                            source_updated_at=stamp,
                        )
                    )
                pos += sizes[order]
                order += 1
            # Now and then an order is placed and cancelled; it is extra, not lost demand.
            if rng.random() < (0.15, 0.04)[loc]:
                counters[loc] += 1
                picked = selling[: int(rng.integers(1, 3))]
                customer = None if loc else f"C{int(rng.integers(1, 20001)):06d}"
                for line_no, i in enumerate(picked, start=1):
                    lines.append(
                        DemoLine(
                            order_id=f"{('WEB', 'POS')[loc]}-{counters[loc]:07d}",
                            line_id=str(line_no),
                            order_date=order_date,
                            sku=profiles[i].sku,
                            product_name=profiles[i].product_name,
                            quantity=_units(int(rng.integers(1, 4))),
                            unit_price=profiles[i].unit_price,
                            currency=CURRENCY,
                            location=LOCATIONS[loc],
                            channel=CHANNELS[loc],
                            status="cancelled",
                            customer_id=customer,
                            source_updated_at=midnight + dt.timedelta(seconds=int(updated[0])),
                        )
                    )
    lines.extend(_returns(rng, lines, start + dt.timedelta(days=days - 1)))
    # Chronological, as a source would list them; the sort is stable, so still deterministic.
    lines.sort(key=lambda line: line.order_date)
    return lines


def _returns(rng: np.random.Generator, lines: list[DemoLine], end: dt.date) -> list[DemoLine]:
    """Refunds of a few sold lines, as negative lines on their own return documents."""
    rates = {"web": 0.006, "store": 0.002}
    draws = rng.random(len(lines))
    delays = rng.integers(2, 31, size=len(lines))
    sizes = rng.integers(1, 4, size=len(lines))
    returns = []
    for line, draw, delay, size in zip(lines, draws, delays, sizes, strict=True):
        if line.status != "fulfilled" or draw >= rates[line.channel]:
            continue
        returned_on = line.order_date + dt.timedelta(days=int(delay))
        if returned_on > end:
            continue
        units = min(int(line.quantity), int(size))
        returns.append(
            DemoLine(
                order_id=f"RET-{len(returns) + 1:06d}",
                line_id="1",
                order_date=returned_on,
                sku=line.sku,
                product_name=line.product_name,
                quantity=_units(-units),
                unit_price=line.unit_price,
                currency=CURRENCY,
                location=line.location,
                channel=line.channel,
                status="refunded",
                customer_id=line.customer_id,
                source_updated_at=dt.datetime.combine(returned_on, dt.time(15), tzinfo=dt.UTC),
            )
        )
    return returns


def generate_demand(
    seed: int = 7, *, days: int = 730, end: dt.date | None = None, skus: int = 200
) -> DemoData:
    """Daily demand lines for ``skus`` items in two locations over ``days`` ending ``end``."""
    if days < 7 or skus < 1:
        raise ValueError(f"need at least 7 days and 1 SKU, got {days} days and {skus} SKUs")
    if end is None:
        end = utcnow().date() - dt.timedelta(days=1)
    start = end - dt.timedelta(days=days - 1)
    rng = np.random.default_rng(seed)
    profiles = _profiles(rng, skus, start, days)
    quantities = _quantities(rng, profiles, start, days)
    lines = _lines(rng, profiles, quantities, start)
    return DemoData(start=start, end=end, profiles=tuple(profiles), lines=tuple(lines))
