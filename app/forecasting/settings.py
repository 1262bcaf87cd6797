"""How the engine runs: the knobs a forecast run may turn, with their defaults."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    """How the engine runs; the defaults are what a forecast run uses."""

    # Most rolling-origin windows per series for model choice (0 turns choice off).
    cv_windows: int = 3
    # Windows of conformal errors behind the intervals of Croston's family.
    conformal_windows: int = 3
    # A challenger replaces the default only when the default's CV error exceeds the
    # challenger's by more than this share (1.0: the default errs twice as much).
    # Choice per series is noisy: on a validation split of M3 (the last 18 months of
    # each training series), choosing among AutoETS, dynamic Theta, CES, seasonal
    # naive and the AutoETS-Theta combination gave sMAPE 14.75 with no margin, 14.04
    # with 0.5 and 13.99 with 1.0, as good as never switching; so regular demand
    # leaves its combination only when it plainly fails (a pure seasonal pattern).
    selection_margin: float = 1.0
    # The same for sporadic demand, where the choice paid a little: on 400 series of
    # the synthetic weekly benchmark, MASE 0.890 with 0.25, 0.904 with no margin and
    # 0.912 always using the Syntetos–Boylan approximation.
    sporadic_selection_margin: float = 0.25
    # AutoARIMA among the candidates and in the combination (see ``models``).
    arima: bool = False
    # Clip forecasts and bounds at zero: demand is not negative.
    non_negative: bool = True
    # Processes for statsforecast; None uses every core this process may run on.
    # Known limit: statsforecast starts them with multiprocessing's default method,
    # which is fork on Linux; forking a process that runs other threads (the Qt app,
    # the scheduler, the web server) can deadlock, so call a parallel run from a
    # process of its own, or with n_jobs=1. Groups under 40 series always run in-process.
    n_jobs: int | None = None
