import numpy as np
import numpy.typing as npt

EMPTY: int
TOO_LONG: int
NOT_PRINTABLE: int
MISSING: int

def log1p(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]: ...
def text_flags(values: list[str] | list[str | None], max_chars: int) -> npt.NDArray[np.uint8]: ...
def codes(
    values: list[str] | list[str | None], table: dict[str, int], missing: int = -1, none: int = -2
) -> npt.NDArray[np.int32]: ...
def present(values: list[str | None]) -> npt.NDArray[np.bool_]: ...
