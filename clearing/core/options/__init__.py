"""Options in the pure core: pricing and Greeks, implied volatility, volatility surfaces.

Floats live here (prices of options are model values); whatever reaches the event log is
rounded to integers by the caller, against the account. Conventions: docs/instruments.md.
"""
