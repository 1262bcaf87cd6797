"""Demand classes by ADI and CV² (Syntetos, Boylan and Croston, 2005).

ADI is the average number of periods between two demands (periods over periods
with demand); CV² is the squared coefficient of variation of the non-zero demand
sizes. The cut-offs 1.32 and 0.49 split series into four quadrants, each with a
model family that suits it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np

ADI_CUTOFF = 1.32
CV2_CUTOFF = 0.49


class DemandClass(enum.StrEnum):
    SMOOTH = "smooth"
    ERRATIC = "erratic"
    INTERMITTENT = "intermittent"
    LUMPY = "lumpy"
    # No demand in the whole history: nothing to classify, the forecast is zero.
    ZERO = "zero"

    @property
    def sporadic(self) -> bool:
        """Whether most periods have no demand: Croston's family fits these."""
        return self in (DemandClass.INTERMITTENT, DemandClass.LUMPY)


@dataclass(frozen=True)
class Classification:
    demand_class: DemandClass
    adi: float
    cv2: float
    periods: int
    demand_periods: int


def classify(y: np.ndarray) -> Classification:
    """Classify one history of demand per period (zeros for periods without demand)."""
    y = np.asarray(y, dtype=float)
    sizes = y[y > 0]
    if sizes.size == 0:
        return Classification(DemandClass.ZERO, float("inf"), 0.0, y.size, 0)
    adi = y.size / sizes.size
    cv2 = float(np.var(sizes) / np.mean(sizes) ** 2)
    if adi < ADI_CUTOFF:
        demand_class = DemandClass.SMOOTH if cv2 < CV2_CUTOFF else DemandClass.ERRATIC
    else:
        demand_class = DemandClass.INTERMITTENT if cv2 < CV2_CUTOFF else DemandClass.LUMPY
    return Classification(demand_class, float(adi), cv2, int(y.size), int(sizes.size))
