"""Starting the child: ``os.posix_spawnp`` with a clean signal state, in its own process group.

Why not ``subprocess``: it keeps Python's ignored SIGPIPE/SIGXFSZ and any blocked signal mask in the child,
and its ``wait()`` would race the reaper (design notes, facts 1 and 2). ``posix_spawnp`` sets the mask and
the dispositions in the child before ``exec``. The caller must hand the pid to the reaper
(:meth:`Reaper.watch`) before it next awaits; :func:`spiffe_helper.process.child.start_child` does both.

File descriptors: 0, 1 and 2 are inherited (the Go helper attaches stdin, stdout and stderr); every other
descriptor Python opens is close-on-exec (PEP 446).
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
from collections.abc import Mapping, Sequence

from spiffe_helper.errors import EXIT_NOT_EXECUTABLE, EXIT_NOT_FOUND, SpawnError

# Every catchable signal goes back to SIG_DFL in the child: Python ignores SIGPIPE and SIGXFSZ, and a helper
# started under nohup or from a background job may have inherited more ignored signals. (glibc's own
# signals 32 and 33 are not ours to set; its posix_spawn leaves them ignored, and every libc re-arms them.)
_RESET_SIGNALS: tuple[int, ...] = tuple(
    sorted(int(s) for s in signal.valid_signals() if s not in (signal.SIGKILL, signal.SIGSTOP))
)


def _go_errno_text(err: OSError) -> str:
    """Go spells errno texts in lower case: ``no such file or directory``."""
    text = os.strerror(err.errno) if err.errno else str(err)
    return text[:1].lower() + text[1:]


def describe_spawn_error(cmd: str, err: OSError) -> SpawnError:
    """A :class:`SpawnError` with Go's wording and the shell's exit code (127 not found, 126 otherwise)."""
    code = EXIT_NOT_FOUND if isinstance(err, FileNotFoundError) else EXIT_NOT_EXECUTABLE
    if "/" in cmd:
        detail = f"fork/exec {cmd}: {_go_errno_text(err)}"
    elif isinstance(err, FileNotFoundError):
        detail = f'exec: "{cmd}": executable file not found in $PATH'
    else:
        detail = f'exec: "{cmd}": {_go_errno_text(err)}'
    return SpawnError(f'error executing process "{cmd}": {detail}', code)


def check_command(cmd: str) -> None:
    """Raise the :class:`SpawnError` that starting ``cmd`` would raise, when that can be told in advance.

    For a startup check (warning or error); the spawn itself stays the authority.
    """
    if "/" in cmd:
        if not os.path.exists(cmd):
            raise describe_spawn_error(cmd, FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT)))
        if os.path.isdir(cmd) or not os.access(cmd, os.X_OK):
            raise describe_spawn_error(cmd, PermissionError(errno.EACCES, os.strerror(errno.EACCES)))
        return
    # The $PATH search posix_spawnp does (not shutil.which: shutil imports bz2 and lzma, ~0.5 MB resident in
    # a daemon that never needs them). A file found but not executable is told apart from nothing found.
    found = False
    for d in os.environ.get("PATH", os.defpath).split(os.pathsep):
        candidate = os.path.join(d or ".", cmd)
        if os.path.isfile(candidate):
            if os.access(candidate, os.X_OK):
                return
            found = True
    if found:
        raise describe_spawn_error(cmd, PermissionError(errno.EACCES, os.strerror(errno.EACCES)))
    raise describe_spawn_error(cmd, FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT)))


def spawn(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    new_group: bool = True,
    foreground_tty: bool = False,
) -> int:
    """Start ``argv`` (``argv[0]`` searched in ``$PATH``) and return its pid without waiting.

    The child gets an empty signal mask and default dispositions. With ``new_group`` it leads its own
    process group (pgid == pid) so signals can go to it and everything it starts. With ``foreground_tty``
    and a terminal on stdin that the helper owns, the terminal is handed to the child's group so an
    interactive app can read it (tini does the same). Raises :class:`SpawnError` (exit code 127 or 126).
    """
    if not argv:
        raise ValueError("spawn: empty argv")
    cmd = argv[0]
    environ = dict(os.environ if env is None else env)
    try:
        if new_group:
            pid = os.posix_spawnp(cmd, list(argv), environ, setpgroup=0, setsigmask=(), setsigdef=_RESET_SIGNALS)
        else:
            pid = os.posix_spawnp(cmd, list(argv), environ, setsigmask=(), setsigdef=_RESET_SIGNALS)
    except OSError as err:
        raise describe_spawn_error(cmd, err) from None
    if new_group and foreground_tty:
        _hand_terminal_to(pid)
    return pid


def _hand_terminal_to(pgid: int) -> None:
    """Make ``pgid`` the foreground group of the terminal on stdin, when the helper holds it."""
    try:
        if not os.isatty(0) or os.tcgetpgrp(0) != os.getpgrp():
            return
    except OSError:
        return
    # The helper is about to leave the foreground: SIGTTOU would stop it during tcsetpgrp.
    try:
        old = signal.signal(signal.SIGTTOU, signal.SIG_IGN)
    except ValueError:  # not the main thread: leave the terminal alone
        return
    try:
        with contextlib.suppress(OSError):
            os.tcsetpgrp(0, pgid)
    finally:
        signal.signal(signal.SIGTTOU, old)
