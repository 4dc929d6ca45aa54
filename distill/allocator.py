"""Keep freed memory in the process for the next outer iteration.

Every outer iteration allocates and frees the same large CPU tensors: the
activations of the real batch, the graph of the unrolled steps, their
gradients. By default glibc's malloc serves large blocks with ``mmap``
and gives them back with ``munmap`` when they are freed, and shrinks its
heap whenever enough of its top is free. The next iteration then asks the
kernel for the same memory again, and the kernel zero-fills it one 4 KiB
page fault at a time. For MNIST with a real batch of 1024 that is tens of
thousands of page faults per outer iteration, and on a 2-core machine the
kernel time they cost was as large as the arithmetic itself.

:func:`keep_freed_memory` tells malloc to serve every allocation from its
heap and never to shrink it, so freed blocks are reused as they are. The
package calls it once when it is imported; set the environment variable
``DISTILL_KEEP_FREED_MEMORY=0`` before importing it to keep the system's
behaviour. Neither the mathematics nor the numbers change.

NOTE: the price is that a process does not give memory back to the system
until it exits: its resident size stays near its peak. That suits a run,
a notebook or a benchmark; a long-lived process that distills once and
then does something else may prefer to opt out.
"""

import ctypes
import os
import platform
import sys

ENV = "DISTILL_KEEP_FREED_MEMORY"

# mallopt parameters from glibc's <malloc.h>
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
# largest trim threshold mallopt takes (an int): free heap top kept up to 2 GiB
_KEEP_UP_TO = 2**31 - 1

_applied = False


def _libc():
    """glibc through ctypes, or None on any other C library or system."""
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return None
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:
        return None


def keep_freed_memory():
    """Make malloc reuse freed blocks instead of returning them to the system.

    Sets glibc's ``M_MMAP_MAX`` to 0 (no block gets its own mapping; all
    come from the heap) and ``M_TRIM_THRESHOLD`` to 2 GiB (the heap is not
    shrunk when its top is free). Affects the whole process, from the next
    allocation on; calling it again does nothing.

    Returns:
        True when the setting is in effect (Linux with glibc), False where
        it cannot be applied (another system or C library).
    """
    global _applied
    if _applied:
        return True
    libc = _libc()
    if libc is None:
        return False
    # mallopt returns 1 on success, 0 on error
    if libc.mallopt(_M_MMAP_MAX, 0) and libc.mallopt(_M_TRIM_THRESHOLD, _KEEP_UP_TO):
        _applied = True
    return _applied


def release_free_memory():
    """Give the heap's free pages back to the system now (``malloc_trim``).

    Useful before measuring a peak resident size, so that memory kept by
    :func:`keep_freed_memory` from earlier work is not counted as free
    room. Returns False where glibc is not available.
    """
    libc = _libc()
    if libc is None:
        return False
    libc.malloc_trim(0)
    return True


def enabled_by_environment():
    """False when ``DISTILL_KEEP_FREED_MEMORY`` is ``0``, ``false`` or ``no``."""
    return os.environ.get(ENV, "1").strip().lower() not in ("0", "false", "no")


def is_applied():
    """Whether :func:`keep_freed_memory` is in effect in this process."""
    return _applied
