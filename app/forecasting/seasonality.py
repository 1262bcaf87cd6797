"""Long seasons (a year of weeks) removed by a Fourier regression before the models run.

Seasonal ETS with a season of 52 is slow (R refuses seasons over 24 altogether)
and, on two years of history, has a single observation per seasonal state to
learn from. A few harmonics of the year fitted on the log scale describe the
same shape with a handful of coefficients: the series is divided by the fitted
seasonal factors, forecast by non-seasonal models, and multiplied back. The
number of harmonics is chosen per series by AICc, and zero harmonics (no season)
is one of the choices, so the regression doubles as the seasonality test.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_ORDER = 6


@dataclass(frozen=True)
class FourierSeason:
    """A seasonal profile: ``order`` harmonics of ``period`` with log-scale coefficients."""

    period: float
    order: int
    coefficients: np.ndarray

    def factors(self, t: np.ndarray) -> np.ndarray:
        """Multiplicative seasonal factors at period indices ``t`` (0 is the first observation)."""
        if self.order == 0:
            return np.ones(len(t))
        return np.exp(fourier_terms(t, self.period, self.order) @ self.coefficients)


def fourier_terms(t: np.ndarray, period: float, order: int) -> np.ndarray:
    """Columns sin(2πkt/period), cos(2πkt/period) for k = 1..order."""
    angles = 2 * np.pi * np.outer(np.asarray(t, dtype=float), np.arange(1, order + 1)) / period
    return np.hstack([np.sin(angles), np.cos(angles)])


def fit_fourier_seasons(
    histories: list[np.ndarray], period: float, max_order: int = MAX_ORDER
) -> list[FourierSeason]:
    """The AICc-best Fourier season of each history (order 0 when none is supported).

    Each history is regressed on the log scale (``log1p``) on a level, a linear
    trend and 0..``max_order`` harmonics. Histories of one length share a design
    matrix, so they are solved together.
    """
    max_order = max(0, min(max_order, int(period // 2) - 1))
    seasons: list[FourierSeason | None] = [None] * len(histories)
    by_length: dict[int, list[int]] = {}
    for i, y in enumerate(histories):
        by_length.setdefault(len(y), []).append(i)
    for n, members in by_length.items():
        logs = np.log1p(np.clip(np.vstack([histories[i] for i in members]), 0, None)).T
        t = np.arange(n, dtype=float)
        base = np.column_stack([np.ones(n), t / n])
        best_aicc = np.full(len(members), np.inf)
        best_order = np.zeros(len(members), dtype=int)
        coefficients: dict[int, np.ndarray] = {}
        for order in range(max_order + 1):
            design = np.hstack([base, fourier_terms(t, period, order)])
            params = design.shape[1] + 1
            if n - params - 1 <= 0:
                break
            beta, *_ = np.linalg.lstsq(design, logs, rcond=None)
            rss = np.sum((logs - design @ beta) ** 2, axis=0)
            # A perfect fit (a constant series) has no noise to compare: keep it non-seasonal.
            rss = np.maximum(rss, 1e-12 * n)
            aicc = n * np.log(rss / n) + 2 * params + 2 * params * (params + 1) / (n - params - 1)
            better = aicc < best_aicc
            best_aicc[better], best_order[better] = aicc[better], order
            coefficients[order] = beta[2:]
        for j, i in enumerate(members):
            order = int(best_order[j])
            coef = coefficients[order][:, j] if order else np.zeros(0)
            seasons[i] = FourierSeason(period, order, coef)
    return [season for season in seasons if season is not None]
