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
