"""The demo's timeline, as values: output lines become events, events are described and counted.

Nothing here starts a process or prints; :mod:`spiffe_helper.demo` feeds in the lines its processes write
(the dev agent's and the helpers' logrus lines, the example apps' log lines) and prints what comes out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

TD = "coastal-containers.example"
IDS = {role: f"spiffe://{TD}/manifest/workload/{role}" for role in ("server", "client", "intruder")}
MIN_ROTATIONS = 3

_LOGFMT = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S+)')
_APP_PATTERNS = {
    "fetch": re.compile(r"Received ship manifest from (?P<id>\S+) \(server cert serial (?P<serial>\w+)\): (?P<doc>.*)"),
    "served": re.compile(r"served manifest to (?P<id>\S+) at \S+ \(cert serial (?P<serial>\w+)\)"),
    "refused": re.compile(r"refused (?P<id>\S+) from \S+ \(cert serial (?P<serial>[\w?]+)\)"),
    "reload": re.compile(r"reloaded TLS context \((?P<why>[^)]*)\): own cert serial (?P<old>\w+) -> (?P<new>\w+)"),
    "listening": re.compile(r"listening on (?P<addr>\S+) \(own cert serial (?P<serial>\w+)\)"),
    "fetch_failed": re.compile(r"fetch failed: (?P<reason>.*)"),
    "waiting": re.compile(r"not ready yet: (?P<reason>.*)"),
    "reload_failed": re.compile(r"reload failed (?P<reason>.*)"),
}


@dataclass(frozen=True)
class Event:
    """One interesting line: its kind, who printed it, and the fields taken from it."""

    kind: str
    source: str
    fields: dict[str, str]


def logfmt(text: str) -> dict[str, str]:
    """The key=value pairs of a logrus text line, quotes removed."""
    return {k: v[1:-1].replace('\\"', '"') if v.startswith('"') else v for k, v in _LOGFMT.findall(text)}


def classify(source: str, text: str) -> Event | None:
    """Turn one output line into an Event, or None for a line the timeline does not show."""
    if text.startswith("demo: "):  # the demo's own remarks
        return Event("note", source, {"text": text.removeprefix("demo: ")})
    if text.startswith("time=") and "level=" in text:
        fields = logfmt(text)
        msg = fields.get("msg", "")
        if msg == "Issued X.509-SVID":
            return Event("issued", source, fields)
        if msg in ("X.509 certificates updated", "Successfully fetched x509 certificates"):
            return Event("written", source, fields)
        if fields.get("level") in ("warning", "error", "fatal") or "signal" in msg.lower():
            return Event("helper", source, fields)
        return None
    for kind, pattern in _APP_PATTERNS.items():
        if m := pattern.search(text):
            return Event(kind, source, m.groupdict())
    return None


def short(serial: str) -> str:
    """A serial number cut to 8 hex digits: enough to tell rotations apart on screen."""
    return serial if len(serial) <= 9 else serial[:8] + "…"


@dataclass
class Tally:
    """What the run has shown so far; ``verdict`` applies the bounded-mode criteria."""

    fetched: int = 0
    failed: int = 0
    server_serials: list[str] = field(default_factory=list)  # as presented to the client
    client_serials: list[str] = field(default_factory=list)  # as presented to the server
    reloads: dict[str, int] = field(default_factory=dict)
    intruder_refused_by_server: bool = False
    intruder_exit: int | None = None

    def add(self, event: Event) -> None:
        """Count an event."""
        f = event.fields
        if event.kind == "fetch" and event.source == "client":
            self.fetched += 1
            if f["serial"] not in self.server_serials:
                self.server_serials.append(f["serial"])
        elif event.kind == "fetch_failed" and event.source == "client":
            self.failed += 1
        elif event.kind == "served" and f["id"] == IDS["client"] and f["serial"] not in self.client_serials:
            self.client_serials.append(f["serial"])
        elif event.kind == "reload":
            self.reloads[event.source] = self.reloads.get(event.source, 0) + 1
        elif event.kind == "refused" and f["id"] == IDS["intruder"]:
            self.intruder_refused_by_server = True

    def rotations(self) -> tuple[int, int]:
        """Rotations of the server's and the client's identity that the peer actually saw in use."""
        return max(len(self.server_serials) - 1, 0), max(len(self.client_serials) - 1, 0)

    def verdict(self) -> list[tuple[bool, str]]:
        """Each bounded-mode criterion with whether it holds."""
        server_rot, client_rot = self.rotations()
        return [
            (self.fetched > 0 and self.failed == 0, f"{self.fetched} fetches, {self.failed} failed"),
            (server_rot >= MIN_ROTATIONS, f"server identity rotated {server_rot} times (need {MIN_ROTATIONS})"),
            (client_rot >= MIN_ROTATIONS, f"client identity rotated {client_rot} times (need {MIN_ROTATIONS})"),
            (
                self.intruder_refused_by_server and self.intruder_exit == 1,
                f"intruder {IDS['intruder']} refused by the server"
                + ("" if self.intruder_exit is not None else " (not tried)"),
            ),
        ]


def describe(event: Event) -> str | None:
    """The timeline text for an event."""
    f, src = event.fields, event.source
    if event.kind == "issued":
        if f.get("socket") == "intruder" and f.get("reason") != "initial":
            return None  # its rotations do not matter: it is only used once
        return f"issued {f.get('socket', '?')} SVID, serial {short(f.get('serial', '?'))} ({f.get('reason', '')})"
    if event.kind == "written":
        return "helper wrote the SVID files" + (" (unchanged)" if f.get("changed") == "false" else "")
    if event.kind == "helper":
        extra = " ".join(f"{k}={v}" for k, v in f.items() if k not in ("time", "level", "msg", "system"))
        return f"helper {f.get('level', '')}: {f.get('msg', '')} {extra}".rstrip()
    if event.kind == "reload":
        return f"reloaded TLS context on {f['why']}: serial {short(f['old'])} -> {short(f['new'])}"
    if event.kind == "listening":
        return f"listening on {f['addr']}, own cert serial {short(f['serial'])}"
    if event.kind == "fetch":
        return f"fetch ok: manifest from {f['id'].rsplit('/', 1)[-1]}, server cert serial {short(f['serial'])}"
    if event.kind == "served" and src == "server":
        return None  # the client's fetch line says the same; the serial counts for the tally
    if event.kind == "fetch_failed" and src == "intruder-client":
        return f"no manifest for the intruder, as expected: {f['reason']}"
    if event.kind == "refused":
        return f"REFUSED {f['id']} (cert serial {short(f['serial'])}): SPIFFE ID not allowed"
    return {
        "note": "{text}",
        "fetch_failed": "FETCH FAILED: {reason}",
        "waiting": "server not up yet: {reason}",
        "reload_failed": "RELOAD FAILED {reason}",
    }.get(event.kind, "{}").format(**f)
