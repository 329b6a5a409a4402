"""The project's contract for user errors, as one assertion helper."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from neronet.errors import DataError


def error_of(call: Callable[..., Any], *args: Any, **kwargs: Any) -> str:
    """Call ``call`` expecting a DataError whose message is one line with a fix after ';'."""
    with pytest.raises(DataError) as info:
        call(*args, **kwargs)
    message = str(info.value)
    assert "\n" not in message and ";" in message
    return message
