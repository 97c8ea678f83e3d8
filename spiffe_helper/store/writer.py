"""What to write for each update, and whether anything changed. The orchestrator decides what to do with it.

:class:`CredentialWriter` maps the config's output keys to files, renders the bytes (``render``), compares
them with what a reader sees now, and hands only real changes to ``atomic``. It never signals anyone: it
returns a :class:`WriteResult` whose ``changed`` tells the orchestrator whether a renew signal is due.

File-name rules (checked once, at construction; violations are :class:`ConfigError`):

- Output paths are Go's ``path.Join(cert_dir, name)``; a name that leaves a non-empty ``cert_dir`` is rejected.
- X.509 names may coincide: files with one path are concatenated in the order cert, key, bundle, with the key
  mode when the key is in them. ``svid_file_name == svid_key_file_name`` thus gives the combined chain+key
  PEM that haproxy and ghostunnel read (Go writes only the key there).
- JWT file names must differ from each other and from the X.509 names.
- ``..``-prefixed names are reserved for the layout's own entries.
- ``file_layout = "atomic_dir"`` needs the X.509 files in one directory (one ``..data`` swap covers them).

JWT files are written per-file atomically in both layouts, not into the ``..data`` generation: a JWT file is
consistent on its own (no pair to keep together), and putting it in the generation would swap ``..data`` on
every token refresh, which makes certificate watchers (Envoy ``watched_directory``, inotify on ``..data``)
reload TLS and rewrites the private key every few minutes for nothing.
"""

from __future__ import annotations

import datetime as dt
import os
import posixpath
from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

from spiffe_helper.config.model import Config, go_path_clean
from spiffe_helper.errors import ConfigError, WriteError
from spiffe_helper.logs import get_logger
from spiffe_helper.store import atomic
from spiffe_helper.store.medium import memory_backed
from spiffe_helper.store.pruner import BackgroundPruner
from spiffe_helper.store.render import X509Options, X509Pem, render_jwt_bundles, render_jwt_svid, render_x509
from spiffe_helper.svid import X509Context

if TYPE_CHECKING:
    # Types only: a run without JWT outputs never loads the JWT module.
    from spiffe_helper.jwt import JwtBundleSet, JwtSvid

log = get_logger("store")

_PART_KEYS = {"cert": "svid_file_name", "key": "svid_key_file_name", "bundle": "svid_bundle_file_name"}


# NamedTuples rather than frozen dataclasses: a frozen dataclass costs ~1 ms of start-up each.
class WriteResult(NamedTuple):
    """The outcome of one successful write.

    ``changed`` is True when a reader now sees different content than before; False when the content was
    already on disk (nothing was rewritten, or only modes/links were repaired). ``paths`` are the files.
    """

    changed: bool
    paths: tuple[str, ...]
    spiffe_id: str = ""
    not_after: dt.datetime | None = None


class _X509File(NamedTuple):
    path: str
    parts: tuple[str, ...]  # subset of ("cert", "key", "bundle"), in that order
    mode: int


def _resolve(config: Config, key: str, name: str) -> str:
    path = config.path(name)
    base = posixpath.basename(path)
    if base.startswith("..") or base in ("", "."):
        raise ConfigError(
            f'file name "{name}" is reserved or empty (names starting with ".." are not allowed)', key=key
        )
    if config.cert_dir:
        root = go_path_clean(config.cert_dir)
        inside = path.startswith(root.rstrip("/") + "/")
        if not inside:
            raise ConfigError(f'file name "{name}" leaves cert_dir "{config.cert_dir}"', key=key)
    return path


class CredentialWriter:
    """Writes the X.509, JWT-bundle and JWT-SVID files of one config."""

    def __init__(self, config: Config) -> None:
        self.layout = config.file_layout
        self.opts = X509Options(
            hint=config.hint,
            add_intermediates_to_bundle=config.add_intermediates_to_bundle,
            include_federated_domains=config.include_federated_domains,
            omit_expired=config.omit_expired,
        )
        self.x509_files: tuple[_X509File, ...] = ()
        taken: dict[str, str] = {}
        if config.x509_enabled:
            by_path: dict[str, list[str]] = {}
            for part, key in _PART_KEYS.items():
                path = _resolve(config, key, getattr(config, key))
                by_path.setdefault(path, []).append(part)
                taken.setdefault(path, key)
            self.x509_files = tuple(
                _X509File(p, tuple(parts), config.key_file_mode if "key" in parts else config.cert_file_mode)
                for p, parts in by_path.items()
            )
            dirs = {posixpath.dirname(f.path) for f in self.x509_files}
            if self.layout == "atomic_dir" and len(dirs) > 1:
                raise ConfigError(
                    'file_layout "atomic_dir" needs svid_file_name, svid_key_file_name and svid_bundle_file_name '
                    'in one directory (or use file_layout = "plain")',
                    key="file_layout",
                )
        self.jwt_bundle_path = ""
        self.jwt_bundle_mode = config.jwt_bundle_file_mode
        if config.jwt_bundle_enabled:
            self.jwt_bundle_path = self._claim(config, taken, "jwt_bundle_file_name", config.jwt_bundle_file_name)
        self.jwt_svid_mode = config.jwt_svid_file_mode
        self.jwt_svid_paths: dict[str, str] = {}
        for entry in config.jwt_svids:
            name = entry.jwt_svid_file_name
            self.jwt_svid_paths[name] = self._claim(config, taken, "jwt_svid_file_name", name)
        self._dir_modes = self._directory_modes()
        self._memory_dirs: dict[str, bool] = {}
        # On tmpfs/ramfs a write never waits for a disk: fsyncs inline, and the daemon writes on its loop.
        self.x509_in_memory = bool(self.x509_files) and self._in_memory(self.x509_dir)
        # One AtomicDir for the X.509 directory: it remembers which generation preceded the current one.
        self._adir = (
            atomic.AtomicDir(self.x509_dir, in_memory=self.x509_in_memory)
            if self.layout == "atomic_dir" and self.x509_files
            else None
        )
        # Daemon mode prunes old generations after write_x509 returns, so the renew signal does not wait for
        # the unlinks; a one-shot run prunes inline (nothing waits for it but the exit).
        self._pruner = BackgroundPruner(self._adir) if self._adir is not None and config.daemon_mode else None

    @staticmethod
    def _claim(config: Config, taken: dict[str, str], key: str, name: str) -> str:
        path = _resolve(config, key, name)
        if path in taken:
            raise ConfigError(f'file name "{name}" is also used by {taken[path]}', key=key)
        taken[path] = key
        return path

    def _directory_modes(self) -> dict[str, int]:
        modes: dict[str, list[int]] = {}
        for f in self.x509_files:
            modes.setdefault(posixpath.dirname(f.path), []).append(f.mode)
        if self.jwt_bundle_path:
            modes.setdefault(posixpath.dirname(self.jwt_bundle_path), []).append(self.jwt_bundle_mode)
        for path in self.jwt_svid_paths.values():
            modes.setdefault(posixpath.dirname(path), []).append(self.jwt_svid_mode)
        return {d: atomic.dir_mode_for(m) for d, m in modes.items()}

    @property
    def directories(self) -> tuple[str, ...]:
        """The output directories ("" is the working directory)."""
        return tuple(self._dir_modes)

    @property
    def jwt_paths(self) -> tuple[str, ...]:
        """Every JWT output path (bundle first), as health reports them."""
        bundle = (self.jwt_bundle_path,) if self.jwt_bundle_path else ()
        return bundle + tuple(self.jwt_svid_paths.values())

    @property
    def x509_dir(self) -> str:
        """The directory of the X.509 files (where ``..data`` lives in the atomic_dir layout)."""
        return posixpath.dirname(self.x509_files[0].path) if self.x509_files else ""

    def prepare(self) -> None:
        """Once at start: create missing output directories and remove what a crash left behind.

        Every directory is handled even when another fails; the first failure is raised afterwards.
        """
        errors: list[WriteError] = []
        for d in self._dir_modes:
            try:
                self._ensure_dir(d)
            except WriteError as exc:
                errors.append(exc)
                continue
            if self._adir is not None and d == self.x509_dir:
                removed = self._adir.recover()
            else:
                removed = atomic.remove_leftovers(d)
            if removed:
                log.info(
                    "Removed leftovers of an interrupted write",
                    extra={"fields": {"dir": d or ".", "entries": ",".join(sorted(removed))}},
                )
        if errors:
            raise errors[0]

    def _ensure_dir(self, d: str) -> None:
        mode = self._dir_modes[d]
        if d and atomic.ensure_dir(d, mode):
            log.info("Created output directory", extra={"fields": {"dir": d, "mode": f"{mode:04o}"}})

    def _ensure_dirs(self, paths: Sequence[str]) -> None:
        # Only the directories of this write: a JWT directory that cannot be created never blocks the
        # X.509 files, and the other way round.
        for d in dict.fromkeys(posixpath.dirname(p) for p in paths):
            self._ensure_dir(d)

    def _x509_specs(self, pem: X509Pem) -> list[atomic.FileSpec]:
        payload = {"cert": pem.cert, "key": pem.key, "bundle": pem.bundle}
        # Plain layout order: the bundle first (a new root is trusted before anything chains to it), then the
        # key, then the certificate, so a reader triggered by the certificate finds the key already new.
        ordered = sorted(self.x509_files, key=lambda f: 2 if "cert" in f.parts else 1 if "key" in f.parts else 0)
        return [atomic.FileSpec(f.path, b"".join(payload[p] for p in f.parts), f.mode) for f in ordered]

    def write_x509(self, ctx: X509Context, now: dt.datetime | None = None, *, wait: bool = True) -> WriteResult:
        """Write the X.509 files for ``ctx``. Raises SvidError (cannot render) or WriteError (cannot write);
        with ``wait=False``, :class:`~spiffe_helper.store.atomic.DirectoryBusy` (nothing written) rather than
        wait for another writer of the directory."""
        if not self.x509_files:
            raise ConfigError("X.509 output is not configured")
        pem = render_x509(ctx, self.opts, now)
        specs = self._x509_specs(pem)
        self._ensure_dirs([s.path for s in specs])
        changed = self._commit_atomic_dir(specs, wait) if self.layout == "atomic_dir" else self._commit_plain(specs)
        return WriteResult(changed, tuple(s.path for s in specs), str(pem.spiffe_id), pem.not_after)

    def write_jwt_bundles(self, bundles: JwtBundleSet) -> WriteResult:
        """Write the JWT bundle JSON file."""
        if not self.jwt_bundle_path:
            raise ConfigError("jwt_bundle_file_name is not configured")
        spec = atomic.FileSpec(self.jwt_bundle_path, render_jwt_bundles(bundles), self.jwt_bundle_mode)
        self._ensure_dirs([spec.path])
        return WriteResult(self._commit_plain([spec]), (spec.path,))

    def write_jwt_svid(self, file_name: str, svid: JwtSvid) -> WriteResult:
        """Write one JWT-SVID file (``file_name`` as configured in ``jwt_svids``)."""
        path = self.jwt_svid_paths[file_name]
        spec = atomic.FileSpec(path, render_jwt_svid(svid), self.jwt_svid_mode)
        self._ensure_dirs([path])
        return WriteResult(self._commit_plain([spec]), (path,), str(svid.spiffe_id), svid.expiry)

    def tidy(self, timeout: float | None = None) -> bool:
        """Wait until old generations of earlier X.509 writes are pruned; False on timeout."""
        return self._pruner.wait_idle(timeout) if self._pruner is not None else True

    def _commit_atomic_dir(self, specs: Sequence[atomic.FileSpec], wait: bool = True) -> bool:
        adir = self._adir or atomic.AtomicDir(self.x509_dir, in_memory=self.x509_in_memory)
        seen = [atomic.read_file(s.path) for s in specs]
        same_content = all(v is not None and v[0] == s.data for v, s in zip(seen, specs, strict=True))
        same_mode = all(v is not None and v[1] == s.mode for v, s in zip(seen, specs, strict=True))
        linked = adir.current() is not None and all(adir.is_linked(os.path.basename(s.path)) for s in specs)
        if same_content and same_mode and linked:
            return False
        files = {os.path.basename(s.path): (s.data, s.mode) for s in specs}
        adir.publish(files, prune=self._pruner is None, wait=wait)
        if self._pruner is not None:
            self._pruner.request()
        return not same_content

    def _in_memory(self, directory: str) -> bool:
        """Whether ``directory`` is on tmpfs/ramfs (looked up once per directory)."""
        if directory not in self._memory_dirs:
            self._memory_dirs[directory] = memory_backed(directory)
        return self._memory_dirs[directory]

    def _commit_plain(self, specs: Sequence[atomic.FileSpec]) -> bool:
        todo: list[atomic.FileSpec] = []
        changed = False
        for s in specs:
            seen = atomic.read_file(s.path)
            if seen is None or seen[0] != s.data:
                changed = True
            elif seen[1] == s.mode and atomic.is_regular_file(s.path):
                continue
            todo.append(s)
        if todo:
            atomic.replace_files(todo, in_memory=all(self._in_memory(posixpath.dirname(s.path)) for s in todo))
        return changed
