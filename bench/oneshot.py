"""One-shot benchmark: a cold ``spiffe-helper -config X -daemon-mode=false`` against the dev agent.

Each run is a fresh process, timed from spawn to reap, with its CPU time and its own peak RSS (``wait4``).
Beside it, in the same run and interleaved round by round so machine noise hits all alike:

- floor: ``python -c "import grpc.aio, cryptography.x509"`` (the libraries any such client needs);
- py-spiffe: a script in py-spiffe's own virtualenv that fetches the X.509 context and saves cert, key and
  bundle (py-spiffe 0.3.x, same grpcio/cryptography versions);
- diagnostics: ``spiffe-helper -version`` (CLI start-up) and importing every module a one-shot run loads,
  without running (so wall(one-shot) - wall(imports) is the run itself).

Each round writes into a fresh output directory. Targets: one-shot <= 1.3x floor and <= 0.6x py-spiffe
(median wall time). ``--profile`` adds ``-X importtime`` runs and lists the imports a one-shot run does beyond
the floor, by package and by the module of ours that pulls them in.

    python bench/oneshot.py [--runs 10] [--profile]
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    HELPER,
    VENV_PYTHON,
    RunResult,
    helper_env,
    measure_process,
    median,
    print_header,
    print_table,
    pyspiffe_python,
    scratch_dir,
    verdict,
    write_helper_conf,
)

from spiffe_helper.devagent import DevAgentProcess

SPIFFE_ID = "spiffe://bench.example/oneshot/workload"
FLOOR_CODE = "import grpc.aio, cryptography.x509"
# Every module a one-shot run imports before it connects (cli.py imports the config and app lazily).
IMPORTS_CODE = (  # collection off during the imports, as the CLI does (spiffe_helper/gcpolicy.py)
    "import gc; gc.disable(); "
    "import spiffe_helper.cli, spiffe_helper.config.loader, spiffe_helper.config.validate, spiffe_helper.app"
)
PYSPIFFE_SCRIPT = """\
import os, sys
from cryptography.hazmat.primitives.serialization import Encoding
from spiffe import WorkloadApiClient

address, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
with WorkloadApiClient(socket_path=address) as client:
    ctx = client.fetch_x509_context()
svid = ctx.default_svid
svid.save(os.path.join(out, "svid.pem"), os.path.join(out, "svid_key.pem"), Encoding.PEM)
bundle = ctx.x509_bundle_set.get_bundle_for_trust_domain(svid.spiffe_id.trust_domain)
bundle.save(os.path.join(out, "svid_bundle.pem"), Encoding.PEM)
"""
FLOOR = "floor: import grpc.aio, cryptography.x509"
OURS = "spiffe-helper one-shot"
PYSPIFFE = "py-spiffe fetch + save"
TARGET_FLOOR = 1.3
TARGET_PYSPIFFE = 0.6


# -- import profile --------------------------------------------------------------------------------------
def parse_importtime(stderr: str) -> dict[str, tuple[float, str]]:
    """``module -> (self ms, nearest importing spiffe_helper module or "")`` from ``-X importtime`` output.

    The output lists a module after everything it imported, indented by depth, so reading it backwards
    meets each parent before its children.
    """
    lines = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or line.count("|") != 2:
            continue
        own, _cumulative, name = line[len("import time:") :].split("|")
        if own.strip().isdigit():
            lines.append((int(own) / 1000, (len(name) - len(name.lstrip()) - 1) // 2, name.strip()))
    out: dict[str, tuple[float, str]] = {}
    stack: list[str] = []
    for own_ms, depth, name in reversed(lines):
        del stack[depth:]
        owner = next((m for m in reversed(stack) if m.startswith("spiffe_helper")), "")
        out[name] = (own_ms, owner)
        stack.append(name)
    return out


def import_profile(argv: list[str], env: dict[str, str], runs: int) -> dict[str, tuple[float, str]]:
    """Median self time per module over ``runs`` ``-X importtime`` runs of ``argv``."""
    samples: dict[str, list[float]] = defaultdict(list)
    owners: dict[str, str] = {}
    for _ in range(runs):
        result = check(" ".join(argv), measure_process(argv, {**env, "PYTHONPROFILEIMPORTTIME": "1"}))
        for name, (own_ms, owner) in parse_importtime(result.output).items():
            samples[name].append(own_ms)
            owners[name] = owner
    return {name: (statistics.median(v), owners[name]) for name, v in samples.items()}


def print_import_profile(ours: dict[str, tuple[float, str]], floor: dict[str, tuple[float, str]]) -> None:
    """The imports beyond the floor: by top-level package, and the third-party/stdlib ones by importer."""
    extra = {name: v for name, v in ours.items() if name not in floor}
    by_package: dict[str, float] = defaultdict(float)
    by_importer: dict[str, float] = defaultdict(float)
    lists: dict[str, list[str]] = defaultdict(list)
    for name, (own_ms, owner) in extra.items():
        package = name.split(".")[0]
        by_package[package] += own_ms
        if package != "spiffe_helper":
            by_importer[owner or "(entry point)"] += own_ms
            if package not in lists[owner or "(entry point)"]:
                lists[owner or "(entry point)"].append(package)
    total = sum(by_package.values())
    print(f"imports beyond the floor: {len(extra)} modules, {total:.1f} ms self time (median of the profiled runs)")
    rows = sorted(by_package.items(), key=lambda kv: -kv[1])[:15]
    print_table(["top-level package", "self ms"], [[p, ms] for p, ms in rows])
    ours_rows = sorted(((n, v[0]) for n, v in extra.items() if n.startswith("spiffe_helper")), key=lambda r: -r[1])
    print_table(["our module (its own body)", "self ms"], [[n, ms] for n, ms in ours_rows[:15]])
    importer_rows = sorted(by_importer.items(), key=lambda kv: -kv[1])[:12]
    print_table(
        ["nearest importer of ours", "libs self ms", "packages"],
        [[imp, ms, ",".join(lists[imp][:6])] for imp, ms in importer_rows],
    )


# -- runs ------------------------------------------------------------------------------------------------
def check(name: str, result: RunResult) -> RunResult:
    """Stop the bench when a command fails: its timing would be meaningless."""
    if result.returncode != 0:
        sys.stderr.write(f"{name} exited {result.returncode}:\n{result.output[-3000:]}\n")
        raise SystemExit(1)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="measured rounds (median reported)")
    parser.add_argument("--profile", action="store_true", help="also profile the imports beyond the floor")
    parser.add_argument("--profile-runs", type=int, default=3, help="-X importtime runs per command")
    args = parser.parse_args()

    print_header("oneshot: cold one-shot run against the dev agent, process start to exit")
    env = helper_env()
    pyspiffe = pyspiffe_python()
    with scratch_dir() as d:
        (d / "sock").mkdir()
        agent = DevAgentProcess(d / "sock", {"w": [SPIFFE_ID]}, x509_ttl="1h")
        script = d / "pyspiffe_oneshot.py"
        script.write_text(PYSPIFFE_SCRIPT)
        with agent:
            address = agent.address("w")
            ours_runs, their_runs = itertools.count(), itertools.count()

            def ours_argv(n: int) -> list[str]:
                conf = write_helper_conf(
                    d / f"helper-{n}.conf",
                    {
                        "agent_address": address,
                        "cert_dir": str(d / f"out-{n}"),
                        "svid_file_name": "svid.pem",
                        "svid_key_file_name": "svid_key.pem",
                        "svid_bundle_file_name": "svid_bundle.pem",
                    },
                )
                return [str(HELPER), "-config", str(conf), "-daemon-mode=false"]

            commands: dict[str, Callable[[], RunResult]] = {
                FLOOR: lambda: measure_process([str(VENV_PYTHON), "-c", FLOOR_CODE], env),
                OURS: lambda: measure_process(ours_argv(next(ours_runs)), env),
                PYSPIFFE: lambda: measure_process(
                    [str(pyspiffe), str(script), address, str(d / f"py-{next(their_runs)}")], env
                ),
                "(diag) spiffe-helper -version": lambda: measure_process([str(HELPER), "-version"], env),
                "(diag) one-shot's imports, no run": lambda: measure_process(
                    [str(VENV_PYTHON), "-c", IMPORTS_CODE], env
                ),
            }
            results: dict[str, list[RunResult]] = {name: [] for name in commands}
            for name, fn in commands.items():  # warm-up round: page cache, bytecode cache
                check(name, fn())
            for _ in range(args.runs):
                for name, fn in commands.items():
                    results[name].append(check(name, fn()))
            written = sorted(p.name for p in (d / "out-0").iterdir())
            if args.profile:
                ours_profile = import_profile(ours_argv(10**6), env, args.profile_runs)
                floor_profile = import_profile([str(VENV_PYTHON), "-c", FLOOR_CODE], env, args.profile_runs)

    def stat(name: str, field: str) -> float:
        return median([getattr(r, field) for r in results[name]])

    rows = [
        [
            name,
            stat(name, "wall") * 1000,
            min(r.wall for r in results[name]) * 1000,
            stat(name, "cpu") * 1000,
            stat(name, "max_rss_kb") / 1024,
        ]
        for name in commands
    ]
    print(f"median of {args.runs} interleaved runs after one warm-up round; our one-shot wrote {', '.join(written)}")
    print_table(["command", "wall ms", "min wall ms", "CPU ms", "peak RSS MiB"], rows)
    wall_floor, wall_py = stat(OURS, "wall") / stat(FLOOR, "wall"), stat(OURS, "wall") / stat(PYSPIFFE, "wall")
    print_table(
        ["one-shot ratio", "wall", "min wall", "CPU", "RSS", "target (wall)", ""],
        [
            [
                "/ floor",
                wall_floor,
                min(r.wall for r in results[OURS]) / min(r.wall for r in results[FLOOR]),
                stat(OURS, "cpu") / stat(FLOOR, "cpu"),
                stat(OURS, "max_rss_kb") / stat(FLOOR, "max_rss_kb"),
                f"<= {TARGET_FLOOR}",
                verdict(wall_floor, TARGET_FLOOR),
            ],
            [
                "/ py-spiffe",
                wall_py,
                min(r.wall for r in results[OURS]) / min(r.wall for r in results[PYSPIFFE]),
                stat(OURS, "cpu") / stat(PYSPIFFE, "cpu"),
                stat(OURS, "max_rss_kb") / stat(PYSPIFFE, "max_rss_kb"),
                f"<= {TARGET_PYSPIFFE}",
                verdict(wall_py, TARGET_PYSPIFFE),
            ],
        ],
    )
    if args.profile:
        print_import_profile(ours_profile, floor_profile)
    return 0


if __name__ == "__main__":
    sys.exit(main())
