"""stage: a live-performance engine with the audience in the loop."""

__version__ = "0.1.0"
