"""What every driver hands the scoring core: ``Inputs``.

A driver reads its input (Kafka values, JSON items, Parquet rows, Avro file records) into
Transaction columns. Some inputs cannot be read; ``Inputs`` keeps, for each row of the
columns, its position in the driver's input, and for each input that could not be read,
its position and why. The core answers with one ``Outcome`` per input position
(``outcomes.py``), so no driver maps rows back to its input itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from consumer.scoring.columns import TransactionColumns
from consumer.scoring.errors import RecordError

IntArray = npt.NDArray[np.int64]
Failures = list[tuple[int, RecordError]]  # (input position, why), ascending positions


@dataclass
class Inputs:
    columns: TransactionColumns
    positions: IntArray  # input position of each row of ``columns``, ascending
    failures: Failures = field(default_factory=list)  # inputs that could not be read
    size: int = -1  # input positions in all; -1: rows + failures

    def __post_init__(self) -> None:
        if self.size < 0:
            self.size = len(self.positions) + len(self.failures)

    def __len__(self) -> int:
        return self.size

    @classmethod
    def of(cls, columns: TransactionColumns) -> Inputs:
        """Every input read: row i is input position i."""
        return cls(columns, np.arange(len(columns), dtype=np.int64))
