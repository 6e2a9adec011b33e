import numpy as np
import numpy.typing as npt

def hash_strings(values: list[str] | list[str | None]) -> npt.NDArray[np.uint64]: ...
def card_history(
    slots: npt.NDArray[np.int64],
    times: npt.NDArray[np.int64],
    amounts: npt.NDArray[np.float64],
    merchants: npt.NDArray[np.uint64],
    countries: npt.NDArray[np.uint64],
    devices: npt.NDArray[np.uint64],
    txids: npt.NDArray[np.uint64],
    states: list[bytes],
) -> tuple[npt.NDArray[np.float64], list[bytes]]: ...
