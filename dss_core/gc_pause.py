"""Pausing Python's cyclic garbage collector around bulk work on many long-lived objects."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic collector for the block, then restore it as it was.

    Importing or comparing a million objects that live until the tree is
    cleared would otherwise trigger collections that scan all of them,
    costing more than the work itself. Reference counting still frees
    everything that is dropped.
    """
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            if gc.get_freeze_count() == 0:
                # what the block made is long-lived: move it to the oldest generation at
                # once (freeze, unfreeze), or the first young collection after the pause
                # would walk every one of those objects, and the next one again
                gc.freeze()
                gc.unfreeze()
            gc.enable()
