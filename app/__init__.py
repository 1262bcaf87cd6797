"""AccuPredix On-Prem core: configuration, store, vault, services and CLI.

This package imports neither Qt nor Flask; the desktop app (``ui``) and the
web side (``embedded_api``) both call into it.
"""

__version__ = "0.1.0"
