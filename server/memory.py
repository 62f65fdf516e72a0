"""Gives the memory freed by a sheet's big, rare events back to the operating system.

Loading, compacting or unloading a big sheet frees hundreds of megabytes, often in the
malloc arena of the thread that did the work; glibc keeps such memory for reuse by that
arena, so the process's RSS never comes down. `malloc_trim` returns it (glibc only; a no-op
elsewhere).
"""

import asyncio
import ctypes
import ctypes.util
from collections.abc import Callable


def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):  # not glibc (musl, macOS)
        return None


_TRIM = _malloc_trim()


def give_back() -> None:
    """Returns the free memory of every malloc arena to the system (blocking: tens of ms)."""
    if _TRIM is not None:
        _TRIM(0)


async def give_back_soon() -> None:
    """`give_back` off the event loop."""
    await asyncio.to_thread(give_back)
