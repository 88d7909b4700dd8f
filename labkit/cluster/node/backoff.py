"""The kubelet's crash back-off: 10 s doubling up to 5 minutes, reset after 10 minutes of good running."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_BASE_SECONDS = 10.0
DEFAULT_CAP_SECONDS = 300.0


@dataclass
class Backoff:
    """Delay before the next restart of one container, from how often it failed in a row."""

    base: float = DEFAULT_BASE_SECONDS
    cap: float = DEFAULT_CAP_SECONDS
    failures: int = 0

    def record_exit(self, ran_for_seconds: float) -> float:
        """Count one exit and return the delay before the next start.

        A container that ran for twice the cap (10 minutes with the defaults) starts over at the base,
        as the kubelet does.
        """
        if ran_for_seconds >= 2 * self.cap:
            self.failures = 0
        self.failures += 1
        return self.delay()

    def delay(self) -> float:
        """The current delay. As in the kubelet the first restart is immediate; after that the delay is
        base · 2^(failures-2), capped."""
        if self.failures <= 1:
            return 0.0
        return float(min(self.cap, self.base * (2 ** (self.failures - 2))))

    def reset(self) -> None:
        """Forget the failures."""
        self.failures = 0
