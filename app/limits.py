"""Bounds shared by the forecasting engine and the interfaces that accept its input.

Kept apart from ``app.forecasting`` so that checking a request does not import
the forecasting libraries (a few hundred megabytes) into the web server.
"""

# The longest forecast horizon, in periods: ten years of weeks.
MAX_HORIZON = 520
