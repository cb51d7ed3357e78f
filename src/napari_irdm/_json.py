"""JSON-ready copies of nested results (NumPy / torch values, paths): one rule for every writer.

Ground floor: imports nothing from the package and neither NumPy nor torch (values are
recognised by their ``item`` / ``tolist`` methods).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import Any

__all__ = ["jsonable"]


def jsonable(value: Any, *, digits: int | None = None) -> Any:
    """A copy of ``value`` that :func:`json.dumps` writes as strict JSON.

    Parameters
    ----------
    value : any
        Nested mappings, lists, tuples and scalars; NumPy / torch scalars and arrays; paths.
    digits : int, optional
        Round every float to this many decimals (``None``: keep full precision).

    Returns
    -------
    any
        Mappings become dicts with ``str`` keys, lists / tuples / sets / arrays become lists,
        NumPy and torch scalars Python numbers, paths strings. A float that is NaN or ±Inf
        becomes ``None`` (strict JSON has no NaN); anything else unknown becomes ``str(value)``.
    """
    if isinstance(value, Mapping):
        return {str(k): jsonable(v, digits=digits) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v, digits=digits) for v in value]
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return float(value) if digits is None else round(float(value), digits)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if hasattr(value, "tolist"):  # NumPy / torch arrays and scalars (a 0-d array's tolist is a scalar)
        try:
            return jsonable(value.tolist(), digits=digits)
        except (TypeError, ValueError, RuntimeError):
            pass
    if hasattr(value, "item"):
        try:
            return jsonable(value.item(), digits=digits)
        except (TypeError, ValueError, RuntimeError):
            pass
    return str(value)
