"""clearing: an event-sourced clearing and liquidation simulator for crypto derivatives."""

__version__ = "0.1.0"
