"""A Prometheus histogram that takes a whole batch of observations at once.

prometheus-client's Histogram.observe costs about a microsecond per value; the scorer
observes several values per record (score, latency from two references), which at tens
of thousands of records a second is a core's worth of locking. This collector counts a
numpy array into its buckets in one call and exposes the same histogram family
(``_bucket``, ``_count``, ``_sum``) on the registry it is given.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence

import numpy as np
import numpy.typing as npt
from prometheus_client import CollectorRegistry
from prometheus_client.core import HistogramMetricFamily
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString as _go_float


class BulkHistogram(Collector):
    def __init__(
        self,
        name: str,
        documentation: str,
        buckets: Sequence[float],
        labelnames: Sequence[str] = (),
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.name = name
        self.documentation = documentation
        self._bounds = np.asarray(sorted(buckets), dtype=np.float64)
        self._labelnames = tuple(labelnames)
        self._lock = threading.Lock()
        # per label values: counts per finite bucket + one for +Inf, and the sum
        self._series: dict[tuple[str, ...], tuple[npt.NDArray[np.int64], list[float]]] = {}
        if not self._labelnames:
            self._series[()] = self._empty()
        if registry is not None:
            registry.register(self)

    def _empty(self) -> tuple[npt.NDArray[np.int64], list[float]]:
        return np.zeros(len(self._bounds) + 1, np.int64), [0.0]

    def labels(self, *values: str) -> None:
        """Create a series up front, so it is exposed (at zero) before any value."""
        with self._lock:
            self._series.setdefault(tuple(values), self._empty())

    def observe_many(self, values: npt.NDArray[np.float64], *labels: str) -> None:
        if len(values) == 0:
            return
        # le semantics: a value equal to a bound counts in that bound's bucket
        counts = np.bincount(
            np.searchsorted(self._bounds, values, side="left"), minlength=len(self._bounds) + 1
        )
        total = float(np.sum(values))
        with self._lock:
            series = self._series.setdefault(tuple(labels), self._empty())
            series[0][:] += counts
            series[1][0] += total

    def describe(self) -> Iterator[HistogramMetricFamily]:
        yield HistogramMetricFamily(self.name, self.documentation, labels=self._labelnames)

    def collect(self) -> Iterator[HistogramMetricFamily]:
        family = HistogramMetricFamily(self.name, self.documentation, labels=self._labelnames)
        with self._lock:
            snapshot = [(k, c.copy(), s[0]) for k, (c, s) in self._series.items()]
        for labels, counts, total in snapshot:
            cumulative = np.cumsum(counts)
            buckets = [
                (_le(b), float(n)) for b, n in zip(self._bounds, cumulative[:-1], strict=True)
            ]
            buckets.append(("+Inf", float(cumulative[-1])))
            family.add_metric(list(labels), buckets, total)
        yield family


def _le(bound: float) -> str:
    """A bucket bound as prometheus-client writes it (``1.0``, ``+Inf``)."""
    text: str = _go_float(bound)  # type: ignore[no-untyped-call]
    return text
