import numpy as np
import numpy.typing as npt

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
