from typing import Any

import numpy as np
import numpy.typing as npt

def build_tables(
    path_dims: npt.NDArray[np.int32],
    slot_start: npt.NDArray[np.int64],
    zero_fraction: npt.NDArray[np.float64],
    leaf_value: npt.NDArray[np.float64],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]: ...
def contributions(X: npt.NDArray[np.float64], *arrays: Any) -> npt.NDArray[np.float64]: ...
