"""When the cyclic garbage collector runs: not while the helper starts, and never over start-up's objects.

Start-up creates ~30,000 objects that live as long as the process (modules, classes, the config). Collecting
while they are created finds nothing to free and costs a cold run ~14 ms (gen0/gen1 passes during the
imports of gRPC, cryptography and our modules). Once they exist, every full (gen2) collection walks all of
them again: ~11 ms on this project's test VM, paid at a random moment, e.g. in the middle of a rotation
(the long tail of the rotation latency). So the CLI turns collection off for the start-up and, once the
run's modules are loaded, moves everything alive into the permanent generation (``gc.freeze``) and turns
it back on: later collections only look at objects created afterwards.

The frozen objects stay frozen when the run returns. They live until the process exits anyway, and the
interpreter's exit then skips them: its final collection over the unfrozen start-up objects cost a one-shot
run ~30 ms more (measured: `python -c "import grpc.aio, cryptography.x509"` exits in 35 ms, 9 ms frozen).
Reference counting still frees them as usual; only reference cycles among them are never collected.

Only the CLI's root run uses this (long-lived subcommands like ``dev-agent`` keep Python's defaults). When
the run returns, collection is on or off again as it was before, so an in-process caller (the tests) gets
its collector back.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["deferred_collection", "settle"]

_active = False
_restore_enabled = False
_freezes_left = 0
# Start-up, then the first X.509 write. Any later freeze would also freeze the cyclic garbage alive at that
# moment (a replaced pipeline's tasks and exceptions after a config reload), never to be collected.
FREEZES = 2


@contextmanager
def deferred_collection() -> Iterator[None]:
    """No collection until :func:`settle`; on exit, collection is switched back on if it was on before."""
    global _active, _restore_enabled, _freezes_left
    _active, _restore_enabled, _freezes_left = True, gc.isenabled(), FREEZES
    gc.disable()
    try:
        yield
    finally:
        _active = False
        if _restore_enabled:
            gc.enable()


def settle() -> None:
    """Freeze what is alive now and collect from here on. Called once the run's modules are loaded, and
    again after the first X.509 write, when the lazily loaded parts are in too. A no-op outside
    :func:`deferred_collection` and after :data:`FREEZES` calls (a reload's new pipeline calls it again)."""
    global _freezes_left
    if not _active or _freezes_left <= 0:
        return
    _freezes_left -= 1
    gc.freeze()
    if _restore_enabled:
        gc.enable()
