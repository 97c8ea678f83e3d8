"""ProcessRuntime: the orchestrator's one object for reaping, signals and the supervisor, with real
signals sent to the (isolated) helper process itself."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from typing import Any

from spiffe_helper.config.model import Config, StartConfig
from spiffe_helper.process.runtime import ProcessRuntime
from tests.helpers.aio import until as _until
from tests.helpers.isolate import run_isolated
from tests.helpers.procs import PYTHON, SIGECHO, lines


def _wrapper_stop(tmp: str) -> dict[str, Any]:
    log = f"{tmp}/sig.log"
    config = Config(start=StartConfig(cmd=PYTHON, args=(SIGECHO, log, "--term", "default")), shutdown_grace_period=5)

    async def main() -> dict[str, Any]:
        runtime = ProcessRuntime.from_config(config)
        stops: list[int] = []
        runtime.start(on_stop=stops.append)
        runtime.on_x509_written(True)
        await _until(lambda: lines(log))
        os.kill(os.getpid(), signal.SIGUSR1)  # to the helper: forwarded to the app's group
        await _until(lambda: "SIGUSR1" in lines(log))
        os.kill(os.getpid(), signal.SIGTERM)  # to the helper: a stop request, not yet forwarded
        await _until(lambda: stops)
        await asyncio.sleep(0.1)
        before_stop = lines(log)
        code = await runtime.stop()
        runtime.close()
        return {
            "stops": stops,
            "before_stop": before_stop,
            "log": lines(log),
            "code": code,
            "owns": runtime.owns_exit_code,
        }

    return asyncio.run(main())


def test_wrapper_stop_forwards_and_returns_the_apps_code(tmp_path: Path) -> None:
    r = run_isolated(_wrapper_stop, str(tmp_path))
    assert r["stops"] == [signal.SIGTERM]
    assert r["before_stop"][1:] == ["SIGUSR1"]
    assert r["log"][1:] == ["SIGUSR1", "SIGTERM"]
    assert r["code"] == 143 and r["owns"] is True


def _wrapper_exit(tmp: str) -> int:
    config = Config(start=StartConfig(cmd="sh", args=("-c", "sleep 0.2; exit 3")))

    async def main() -> int:
        runtime = ProcessRuntime.from_config(config)
        runtime.start(on_stop=lambda sig: None)
        runtime.on_x509_written(True)
        code = await asyncio.wait_for(runtime.wait_exit(), 10)
        assert await runtime.stop() == 3
        runtime.close()
        return code

    return asyncio.run(main())


def test_wrapper_app_exit_ends_the_helper_with_its_code(tmp_path: Path) -> None:
    assert run_isolated(_wrapper_exit, str(tmp_path)) == 3


def _legacy(tmp: str) -> dict[str, Any]:
    log = f"{tmp}/sig.log"
    config = Config(cmd=PYTHON, cmd_args=f"{SIGECHO} {log}", renew_signal="SIGHUP")

    async def main() -> dict[str, Any]:
        runtime = ProcessRuntime.from_config(config)
        runtime.start(on_stop=lambda sig: None)
        runtime.on_x509_written(True)
        await _until(lambda: lines(log))
        runtime.on_x509_written(True)
        await _until(lambda: "SIGHUP" in lines(log))
        waiter = asyncio.create_task(runtime.wait_exit())
        await asyncio.sleep(0.2)
        never = not waiter.done()  # legacy: the child's life never ends the helper
        waiter.cancel()
        code = await runtime.stop()
        runtime.close()
        return {"log": lines(log), "code": code, "never": never}

    return asyncio.run(main())


def test_legacy_keeps_the_helpers_exit_code(tmp_path: Path) -> None:
    r = run_isolated(_legacy, str(tmp_path))
    assert r["log"][1:] == ["SIGHUP", "SIGTERM"]
    assert r["code"] is None and r["never"] is True


def _nothing() -> tuple[bool, int | None]:
    async def main() -> tuple[bool, int | None]:
        runtime = ProcessRuntime.from_config(Config())
        stops: list[int] = []
        runtime.start(on_stop=stops.append)
        os.kill(os.getpid(), signal.SIGHUP)  # no child: handled (PID 1 must not die of it), dropped
        os.kill(os.getpid(), signal.SIGINT)
        await _until(lambda: stops)
        code = await runtime.stop()
        runtime.close()
        return runtime.supervisor is None, code

    return asyncio.run(main())


def test_without_a_child_signals_are_still_handled() -> None:
    assert run_isolated(_nothing) == (True, None)
