"""Unix socket files of the dev agent: safe creation, stale-file replacement, removal on shutdown.

gRPC binds the socket at a private staging path (a fresh 0700 directory next to the final one); the agent
then sets the socket's mode and renames it into place. So the final path appears only once the server is
listening, already with its final permissions, and the rename atomically replaces a stale socket file left
by a crashed run. A socket file that something still answers on is never replaced.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spiffe_helper.devagent.errors import DevAgentError

log = logging.getLogger("spiffe_helper.devagent")

MAX_SOCKET_PATH = 107  # sun_path is 108 bytes including the terminating NUL


@dataclass(frozen=True)
class BoundSocket:
    """A socket file this agent created; remembered by inode so shutdown never removes a successor's."""

    path: Path
    identity: tuple[int, int]

    def remove(self) -> None:
        """Unlink the socket file if it is still ours."""
        try:
            st = os.lstat(self.path)
        except FileNotFoundError:
            return
        if (st.st_dev, st.st_ino) == self.identity:
            self.path.unlink(missing_ok=True)


def check_socket_path(path: Path) -> None:
    """Fail early on paths the kernel would reject or that hold something else."""
    if len(os.fsencode(path)) > MAX_SOCKET_PATH:
        raise DevAgentError(f"socket path {path} is {len(os.fsencode(path))} bytes, over the {MAX_SOCKET_PATH} limit")
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(st.st_mode):
        raise DevAgentError(f"{path} exists and is not a socket; refusing to replace it")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(1.0)
    try:
        probe.connect(os.fspath(path))
    except (ConnectionRefusedError, FileNotFoundError):
        log.info("Replacing stale socket file", extra={"fields": {"path": str(path)}})
        return
    except OSError as exc:
        raise DevAgentError(f"{path}: cannot probe existing socket: {exc.strerror}") from None
    finally:
        probe.close()
    raise DevAgentError(f"{path} is in use by a running agent")


async def bind_and_start(server: Any, path: Path, mode: int) -> BoundSocket:
    """Bind ``server`` (a ``grpc.aio.Server``) to ``path`` with ``mode``, start it, and publish the path."""
    check_socket_path(path)
    path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=".s", dir=path.parent))
    staged = stage / "s"
    try:
        try:
            server.add_insecure_port(f"unix:{staged}")
        except RuntimeError as exc:
            raise DevAgentError(f"cannot listen on {path}: {exc}") from None
        await server.start()
        os.chmod(staged, mode)
        os.replace(staged, path)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    st = os.lstat(path)
    return BoundSocket(path, (st.st_dev, st.st_ino))
