from typing import Any

import numpy as np
import numpy.typing as npt

REASONS: tuple[str | None, ...]
FIELDS: tuple[str, ...]

def decode_values(
    values: list[bytes | None], skip: int = 0
) -> tuple[dict[str, Any], npt.NDArray[np.int64], list[tuple[int, str, str | None]]]: ...
def decode_block(
    block: bytes, count: int
) -> tuple[
    dict[str, Any],
    npt.NDArray[np.int64],
    list[tuple[int, str, str | None]],
    npt.NDArray[np.int64],
    bool,
]: ...
def encode_scores(
    transaction_ids: list[str],
    scores: npt.NDArray[np.float64],
    decisions: npt.NDArray[np.int8],
    reasons: npt.NDArray[np.int16],
    reason_names: list[str],
    model_name: str,
    model_version: str,
    event_time: npt.NDArray[np.int64],
    scored_at: npt.NDArray[np.int64],
    topics: list[str],
    partitions: npt.NDArray[np.int32],
    offsets: npt.NDArray[np.int64],
    prefix: bytes = b"",
) -> list[bytes]: ...
