"""Token buckets for per-connection and per-address rate limits, no I/O.

Times are wall-clock nanoseconds passed in by the caller.
"""

from __future__ import annotations

from collections import OrderedDict


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` saved up."""

    __slots__ = ("burst", "rate", "stamp_ns", "tokens")

    def __init__(self, rate: float, burst: float, now_ns: int) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.stamp_ns = now_ns

    def take(self, now_ns: int, cost: float = 1.0) -> bool:
        elapsed = max(0, now_ns - self.stamp_ns)
        self.stamp_ns = now_ns
        self.tokens = min(self.burst, self.tokens + elapsed * self.rate / 1e9)
        if self.tokens >= cost:
            self.tokens -= cost
            return True
        return False


class AddressLimits:
    """One bucket per remote address, the least recently used forgotten past ``capacity``.

    Bounds what a single address (one venue NAT can hide hundreds of phones, so the rate is
    generous) can make the service do: connections per second and frames per second.
    """

    def __init__(self, rate: float, burst: float, capacity: int = 65536) -> None:
        self.rate = rate
        self.burst = burst
        self.capacity = capacity
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    def take(self, address: str, now_ns: int, cost: float = 1.0) -> bool:
        bucket = self._buckets.get(address)
        if bucket is None:
            bucket = self._buckets[address] = TokenBucket(self.rate, self.burst, now_ns)
            if len(self._buckets) > self.capacity:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(address)
        return bucket.take(now_ns, cost)


class AbuseCounter:
    """Strikes for one connection: an error frame per strike, a close past ``limit``."""

    __slots__ = ("limit", "strikes")

    def __init__(self, limit: int = 20) -> None:
        self.limit = limit
        self.strikes = 0

    def strike(self) -> bool:
        """Count one bad frame; True when the connection should now be closed."""
        self.strikes += 1
        return self.strikes > self.limit
