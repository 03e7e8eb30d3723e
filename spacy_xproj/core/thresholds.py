"""The valid range of a confidence threshold on the teacher's tag probabilities."""
from typing import Optional

_WHY = "below 0.5 an entity and its absence could both pass"


def confidence_threshold_error(value: float, may_be_off: bool) -> Optional[str]:
    """Why `value` cannot be a threshold, or None. Where `may_be_off`, 0 means "no threshold"."""
    if 0.5 <= value <= 1 or (may_be_off and value == 0):
        return None
    if may_be_off:
        return f"{value} is neither 0 (off) nor in the range 0.5<=x<=1 ({_WHY})."
    return f"{value} is not in the range 0.5<=x<=1 ({_WHY})."
