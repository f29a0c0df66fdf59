"""Token bucket pacing of the send loop."""

from __future__ import annotations

import time


class TokenBucket:
    """`take(n)` blocks until n bytes fit the rate. rate_bps <= 0: unlimited.

    The bucket may go into debt by one frame and sleeps that debt off, so the long-run rate is
    exact even though time.sleep() overshoots by tens of microseconds."""

    def __init__(self, rate_bps: float, burst_bytes: int | None = None) -> None:
        self.rate = rate_bps / 8.0  # bytes per second
        self.burst = float(
            burst_bytes if burst_bytes is not None else max(16_000, self.rate * 0.002)
        )
        self.tokens = self.burst
        self.t = time.monotonic()

    def take(self, n: int) -> None:
        if self.rate <= 0:
            return
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.t) * self.rate)
        self.t = now
        self.tokens -= n
        if self.tokens < 0:
            time.sleep(-self.tokens / self.rate)
