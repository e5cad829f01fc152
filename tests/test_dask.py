"""The Dask executor against real clusters on loopback, with the real compiler.

A module-wide ``LocalCluster`` (two worker processes, one thread each) serves most tests;
the worker-kill test gets its own cluster so a restarted worker cannot disturb the rest,
and the refusal tests start ``dask worker`` processes with a doctored ``PATH``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

distributed = pytest.importorskip("distributed")

from conftest import default_sigint  # noqa: E402

from hdrtest.check import check  # noqa: E402
from hdrtest.cli import main  # noqa: E402
from hdrtest.compile import CompileOptions  # noqa: E402
from hdrtest.errors import SetupError, UsageError  # noqa: E402
from hdrtest.executors.dask import (  # noqa: E402
    DaskExecutor,
    compile_batch,
    expectation_for,
    parse_resources,
    worker_problems,
)
from hdrtest.executors.local import LocalExecutor  # noqa: E402
from hdrtest.models import Job, Result, Status  # noqa: E402
from hdrtest.report.serialize import report_dict  # noqa: E402
from hdrtest.settings import Settings  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "kvm-gvt"
DASK_CLI = Path(sys.executable).with_name("dask")


def _cluster(**kwargs: Any) -> Any:
    # ":0": the scheduler always serves HTTP; a fixed port would clash with any other cluster here.
    options: dict[str, Any] = dict(processes=True, n_workers=2, threads_per_worker=1, host="127.0.0.1",
                                   dashboard_address=":0", silence_logs=40)
    options.update(kwargs)
    return distributed.LocalCluster(**options)


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    with _cluster() as cluster, distributed.Client(cluster, set_as_default=False) as dask_client:
        dask_client.wait_for_workers(2, timeout=60)
        yield dask_client


# --- trees -------------------------------------------------------------------------------

HEAVY = "\n".join(["#ifndef HEAVY_H", "#define HEAVY_H", "#define D0 int heavy(int);",
                   *(f"#define D{i} D{i - 1} D{i - 1}" for i in range(1, 15)), "D14", "#endif", ""])


def make_tree(root: Path, passing: int, failing: int, *, heavy: bool = False) -> Path:
    """``ok_N.h`` compile alone, ``bad_N.h`` do not (an incomplete type from a sibling header)."""
    include = root / "include"
    include.mkdir(parents=True)
    prefix = '#include "heavy.h"\n' if heavy else ""
    if heavy:
        (include / "heavy.h").write_text(HEAVY)
    (include / "types.h").write_text("#ifndef TYPES_H\n#define TYPES_H\nstruct node { int v; };\n#endif\n")
    for index in range(passing):
        (include / f"ok_{index}.h").write_text(
            f'{prefix}#include "types.h"\nstruct holder_{index} {{ struct node n; }};\n'
            f"static inline int get_{index}(struct holder_{index} *h) {{ return h->n.v; }}\n")
    for index in range(failing):
        (include / f"bad_{index}.h").write_text(
            f"{prefix}struct broken_{index} {{ struct node n; }};\nint use_{index}(undeclared_t x);\n")
    return include


def tree_settings(root: Path, include: Path) -> Settings:
    return Settings(root=root, cflags=("-std=gnu11", "-Wall", f"-I{include}"), cc="gcc", jobs=2)


def expected_status(result: Result) -> Status:
    name = Path(result.job.display).name
    return Status.FAIL if name.startswith("bad_") else Status.PASS


def without_timings(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: without_timings(v) for k, v in data.items() if k not in ("duration", "elapsed")}
    if isinstance(data, list):
        return [without_timings(v) for v in data]
    return data


def live_hdrtest_tasks(dask_client: Any) -> list[str]:
    """Compile tasks the scheduler still wants to run or is running."""
    def collect(dask_scheduler: Any) -> list[str]:
        return [str(key) for key, task in dask_scheduler.tasks.items()
                if str(key).startswith("hdrtest-compile") and task.state in ("waiting", "queued", "no-worker",
                                                                              "processing")]
    result: list[str] = dask_client.run_on_scheduler(collect)
    return result


# --- same answers as a local run -----------------------------------------------------------


def test_same_report_as_local_executor(client: Any, tmp_path: Path) -> None:
    include = make_tree(tmp_path, passing=5, failing=3)
    settings = tree_settings(tmp_path, include)
    local = check(settings, [str(tmp_path)], executor=LocalExecutor(2))
    executor = DaskExecutor(client=client)
    remote = check(settings, [str(tmp_path)], executor=executor)
    assert len(remote.results) == 9
    assert sorted(r.status.value for r in remote.results) == ["fail"] * 3 + ["pass"] * 6
    assert without_timings(report_dict(remote)) == without_timings(report_dict(local))
    # A failing header's diagnostics came back from the worker, not a placeholder.
    bad = next(r for r in remote.results if r.job.display == "include/bad_0.h")
    assert any("undeclared_t" in d.message or "unknown type" in d.message for d in bad.diagnostics)
    assert all(r.dependencies for r in remote.results)


def test_cli_json_identical_for_example_tree(client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    local_out = tmp_path / "local.json"
    dask_out = tmp_path / "dask.json"
    # The workers were started with the real cache directory: the reproducers they build name
    # variant headers there, and the executor must rebuild them to name this process's.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert main(["check", str(EXAMPLE), "--no-cache", "--format", "json", "-o", str(local_out), "-q"]) == 1
    monkeypatch.setenv("HDRTEST_DASK_SCHEDULER", client.scheduler.address)
    assert main(["check", str(EXAMPLE), "--no-cache", "--executor", "dask", "--format", "json", "-o", str(dask_out),
                 "-q"]) == 1
    local = json.loads(local_out.read_text())
    remote = json.loads(dask_out.read_text())
    assert remote["summary"]["headers_failed"] == 1
    assert remote["summary"]["cache_hits"] == 0
    assert any(r["variant"]["name"] != "baseline" for r in remote["results"]), "the example plans variants"
    assert without_timings(remote) == without_timings(local)
    assert "Traceback" not in capsys.readouterr().err


def test_batches_give_the_same_results(client: Any, tmp_path: Path) -> None:
    include = make_tree(tmp_path, passing=12, failing=4)
    settings = tree_settings(tmp_path, include)
    single = check(settings, [str(tmp_path)], executor=DaskExecutor(client=client))
    executor = DaskExecutor(client=client, batch_size=3)
    batched = check(settings, [str(tmp_path)], executor=executor)
    assert len(batched.results) == 17
    # 17 jobs on 2 worker threads: batches shrink so that each thread still gets 4 tasks.
    assert executor.effective_batch(17) == 2
    assert executor.effective_batch(1000) == 3
    assert without_timings(report_dict(batched)) == without_timings(report_dict(single))


# --- a worker that dies ------------------------------------------------------------------


def test_killed_worker_jobs_rerun_elsewhere(tmp_path: Path) -> None:
    include = make_tree(tmp_path, passing=20, failing=20, heavy=True)
    settings = tree_settings(tmp_path, include)
    with _cluster() as cluster, distributed.Client(cluster, set_as_default=False) as dask_client:
        dask_client.wait_for_workers(2, timeout=60)
        pids: dict[str, int] = dask_client.run(os.getpid)
        victim_address, victim = sorted(pids.items())[0]
        killed: list[int] = []

        def kill_once(result: Result, done: int, total: int) -> None:
            if done == 3 and not killed:
                processing = dask_client.processing()
                assert processing.get(victim_address), "the victim should be compiling when it is killed"
                os.kill(victim, signal.SIGKILL)
                killed.append(victim)

        report = check(settings, [str(tmp_path)], executor=DaskExecutor(client=dask_client), progress=kill_once)
        assert killed == [victim]
        with pytest.raises(ProcessLookupError):
            os.kill(victim, 0)  # really gone (the nanny starts a new process in its place)
    assert len(report.results) == 42  # 20 ok + 20 bad + heavy.h + types.h
    for result in report.results:
        # Every verdict is the real one: a job lost with the worker ran again elsewhere.
        assert result.status == expected_status(result), (result.job.display, result.status, result.diagnostics)
        assert result.dependencies and str(result.job.header) in result.dependencies


def test_interrupt_cancels_remote_jobs(client: Any, tmp_path: Path) -> None:
    include = make_tree(tmp_path, passing=30, failing=0, heavy=True)
    settings = tree_settings(tmp_path, include)
    seen: list[Result] = []

    def interrupt(result: Result, done: int, total: int) -> None:
        seen.append(result)
        if done == 2:
            assert live_hdrtest_tasks(client), "work should still be queued when Ctrl-C arrives"
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        check(settings, [str(tmp_path)], executor=DaskExecutor(client=client), progress=interrupt)
    assert len(seen) == 2
    deadline = time.monotonic() + 10
    while live_hdrtest_tasks(client) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert live_hdrtest_tasks(client) == []


def test_ctrl_c_on_the_command_line(client: Any, tmp_path: Path) -> None:
    include = make_tree(tmp_path, passing=30, failing=0, heavy=True)
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"), HDRTEST_DASK_SCHEDULER=client.scheduler.address,
               XDG_CACHE_HOME=str(tmp_path / "cache"))
    proc = subprocess.Popen([sys.executable, "-m", "hdrtest", "check", str(include), "--cc", "gcc",
                             f"--cflags=-I{include}", "--executor", "dask", "--no-cache"],
                            env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=default_sigint)
    assert proc.stderr is not None
    seen = ""
    try:
        while "[1/" not in seen:  # the first result is back: the rest are queued or running remotely
            line = proc.stderr.readline()
            assert line, f"hdrtest ended early: {seen}"
            seen += line
        assert live_hdrtest_tasks(client)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, seen + err
    assert "interrupted" in err and "Traceback" not in err
    deadline = time.monotonic() + 10
    while live_hdrtest_tasks(client) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert live_hdrtest_tasks(client) == []


def test_close_with_cancel_mid_run(client: Any, tmp_path: Path) -> None:
    include = make_tree(tmp_path, passing=20, failing=0, heavy=True)
    settings = tree_settings(tmp_path, include)
    executor = DaskExecutor(client=client)
    from hdrtest.discover import discover
    from hdrtest.plan import baseline_jobs, flag_source

    headers, _ = discover([tmp_path], settings)
    jobs = baseline_jobs(headers, settings, flag_source(settings))
    stream = executor.run(jobs, CompileOptions(root=tmp_path))
    first = next(stream)
    assert first.status == Status.PASS
    executor.close(cancel=True)
    deadline = time.monotonic() + 10
    while live_hdrtest_tasks(client) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert live_hdrtest_tasks(client) == []


def test_failed_task_is_an_error_never_a_pass(client: Any, tmp_path: Path) -> None:
    include = make_tree(tmp_path, passing=1, failing=0)
    settings = tree_settings(tmp_path, include)
    jobs = _jobs(tmp_path, settings)
    options = CompileOptions(root=tmp_path)
    expect = expectation_for(jobs, options)
    # An expectation no worker can meet: the task refuses, the executor reports errors.
    broken = replace(expect, hdrtest_version="0.0-other")
    future = client.submit(compile_batch, tuple(jobs), options, broken, pure=False)
    assert "runs hdrtest" in str(future.exception(timeout=60))
    assert future.status == "error"
    executor = DaskExecutor(client=client)
    results = list(executor._collect(future, None, tuple(jobs)))
    assert [r.status for r in results] == [Status.ERROR] * len(jobs)
    assert all("remote compile refused: worker" in r.diagnostics[0].message for r in results)


def _jobs(root: Path, settings: Settings) -> list[Job]:
    from hdrtest.discover import discover
    from hdrtest.plan import baseline_jobs, flag_source

    headers, _ = discover([root], settings)
    return baseline_jobs(headers, settings, flag_source(settings))


# --- refusing workers that would give different answers -----------------------------------


def test_worker_check_finds_missing_and_changed_files(tmp_path: Path) -> None:
    include = make_tree(tmp_path, passing=2, failing=1)
    settings = tree_settings(tmp_path, include)
    jobs = _jobs(tmp_path, settings)
    database = tmp_path / "compile_commands.json"
    database.write_text("[]\n")
    expect = expectation_for(jobs, CompileOptions(root=tmp_path), [database])
    assert worker_problems(expect) == []
    assert str(database) in {f.path for f in expect.files}
    assert {c.command for c in expect.compilers} == {"gcc"}
    database.write_text('[{"directory": "/elsewhere"}]\n')
    moved = replace(expect, root="/nonexistent/tree", directories=("/nonexistent/tree",))
    problems = worker_problems(moved)
    assert f"sees different content in {database}" in problems
    assert "does not see directory /nonexistent/tree" in problems
    assert ("runs different hdrtest code under the same version " + expect.hdrtest_version
            in worker_problems(replace(expect, hdrtest_code="0" * 64)))
    database.unlink()
    assert any(p.startswith(f"cannot read {database}") for p in worker_problems(expect))


def test_verify_names_workers_that_see_other_content(client: Any, tmp_path: Path) -> None:
    include = make_tree(tmp_path, passing=2, failing=0)
    settings = tree_settings(tmp_path, include)
    jobs = _jobs(tmp_path, settings)
    expect = expectation_for(jobs, CompileOptions(root=tmp_path))
    executor = DaskExecutor(client=client)
    assert sorted(executor.verify(expect)) == sorted(client.scheduler_info()["workers"])
    changed = Path(expect.files[0].path)
    changed.write_text(changed.read_text() + "/* edited */\n")
    stale = expectation_for(jobs, CompileOptions(root=tmp_path))
    changed.write_text(changed.read_text().replace("/* edited */\n", "x"))
    with pytest.raises(SetupError) as caught:
        executor.verify(stale)
    message = str(caught.value)
    for address in client.scheduler_info()["workers"]:
        assert address in message
    assert f"sees different content in {changed}" in message


@pytest.fixture(scope="module")
def mixed_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, dict[str, str]]]:
    """A scheduler with three ``dask worker`` processes: one compile worker (resource ``compile=1``),
    one whose PATH has no gcc, one whose ``gcc`` is really clang."""
    bin_dir = tmp_path_factory.mktemp("fakebin")
    clang = subprocess.run(["sh", "-c", "command -v clang || command -v clang-14"], capture_output=True,
                           text=True, check=False).stdout.strip()
    if not clang:
        pytest.skip("clang is not installed")
    (bin_dir / "gcc").symlink_to(clang)
    workers = {
        "compiler": (os.environ.get("PATH", "/usr/bin:/bin"), ["--resources", "compile=1"]),
        "nogcc": ("/nonexistent", []),
        "clangasgcc": (f"{bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}", []),
    }
    procs: list[subprocess.Popen[bytes]] = []
    with _cluster(n_workers=0) as cluster, distributed.Client(cluster, set_as_default=False) as dask_client:
        try:
            for name, (path, extra) in workers.items():
                env = dict(os.environ, PATH=path, PYTHONPATH=str(REPO / "src"))
                procs.append(subprocess.Popen(
                    [str(DASK_CLI), "worker", cluster.scheduler_address, "--name", name, "--nthreads", "1",
                     "--no-nanny", "--no-dashboard", "--host", "127.0.0.1", *extra],
                    env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            dask_client.wait_for_workers(3, timeout=60)
            info = dask_client.scheduler_info()["workers"]
            yield dask_client, {str(w["name"]): address for address, w in info.items()}
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def test_refuses_workers_without_the_same_compiler(mixed_cluster: tuple[Any, dict[str, str]],
                                                   tmp_path: Path) -> None:
    dask_client, names = mixed_cluster
    include = make_tree(tmp_path, passing=2, failing=1)
    settings = tree_settings(tmp_path, include)
    with pytest.raises(SetupError) as caught:
        check(settings, [str(tmp_path)], executor=DaskExecutor(client=dask_client))
    message = str(caught.value)
    assert f"worker nogcc ({names['nogcc']}) cannot use compiler gcc" in message
    assert f"worker clangasgcc ({names['clangasgcc']}) resolves compiler gcc to " in message
    assert "worker compiler" not in message  # the good one is not blamed
    assert "shared filesystem" in message


def test_resources_route_compiles_to_compile_workers(mixed_cluster: tuple[Any, dict[str, str]],
                                                     tmp_path: Path) -> None:
    dask_client, names = mixed_cluster
    include = make_tree(tmp_path, passing=6, failing=2)
    settings = tree_settings(tmp_path, include)
    executor = DaskExecutor(client=dask_client, resources=parse_resources("compile=1"))
    assert executor.eligible_workers() == {names["compiler"]: f"compiler ({names['compiler']})"}
    report = check(settings, [str(tmp_path)], executor=executor)
    # A task sent to either odd worker would have been refused there and come back as an error.
    assert [r.status for r in report.results] == [expected_status(r) for r in report.results]
    assert len(report.results) == 9


def test_resources_nobody_offers(client: Any) -> None:
    with pytest.raises(SetupError, match="no Dask worker offers the resources gpu=2"):
        DaskExecutor(client=client, resources={"gpu": 2}).eligible_workers()


def test_parse_resources() -> None:
    assert parse_resources("compile=1, mem=2e9") == {"compile": 1.0, "mem": 2e9}
    assert parse_resources("compile") == {"compile": 1.0}
    assert parse_resources("") == {}
    with pytest.raises(UsageError):
        parse_resources("compile=lots")
    with pytest.raises(UsageError):
        parse_resources("compile=0")


# --- setup errors ------------------------------------------------------------------------


def test_without_distributed_installed_is_a_clear_error(tmp_path: Path) -> None:
    include = make_tree(tmp_path, passing=1, failing=0)
    code = ("import sys; sys.modules['distributed'] = None\n"
            "from hdrtest.cli import main\n"
            "sys.exit(main(sys.argv[1:]))\n")
    out = subprocess.run([sys.executable, "-c", code, "check", str(include), "--cc", "gcc", "--executor", "dask",
                          "--scheduler", "tcp://127.0.0.1:9"],
                         capture_output=True, text=True, timeout=120, check=False,
                         env=dict(os.environ, PYTHONPATH=str(REPO / "src")), cwd=tmp_path)
    assert out.returncode == 2, out.stderr
    assert "pip install 'hdrtest[distributed]'" in out.stderr
    assert "Traceback" not in out.stderr
    assert out.stderr.count("\n") == 1


def test_dask_without_scheduler_address(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    include = make_tree(tmp_path, passing=1, failing=0)
    monkeypatch.delenv("HDRTEST_DASK_SCHEDULER", raising=False)
    assert main(["check", str(include), "--cc", "gcc", "--executor", "dask", "-q"]) == 2
    assert "needs a scheduler address" in capsys.readouterr().err


def test_unreachable_scheduler_is_a_setup_error() -> None:
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    start = time.monotonic()
    with pytest.raises(SetupError, match="cannot connect to the Dask scheduler"):
        DaskExecutor(f"tcp://127.0.0.1:{port}", connect_timeout=2)
    assert time.monotonic() - start < 30


def test_cluster_without_workers_is_a_setup_error(tmp_path: Path) -> None:
    include = make_tree(tmp_path, passing=1, failing=0)
    settings = tree_settings(tmp_path, include)
    with _cluster(n_workers=0) as cluster, distributed.Client(cluster, set_as_default=False) as dask_client:
        with pytest.raises(SetupError, match="no Dask worker joined the scheduler within 1 s"):
            check(settings, [str(tmp_path)], executor=DaskExecutor(client=dask_client, connect_timeout=1))


def _running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False


def test_ctrl_c_ends_the_compiles_running_on_workers(client: Any, tmp_path: Path) -> None:
    """Cancelling a Dask future leaves a running task running: its compiler must be ended too (item 16).

    The compiler is a wrapper that records its pid and its sleep's, then sleeps far past the test.
    """
    include = make_tree(tmp_path, passing=4, failing=0)
    pids = tmp_path / "pids"
    pids.write_text("")
    slow = tmp_path / "slowcc"
    slow.write_text("#!/bin/sh\nfor a in \"$@\"; do case \"$a\" in *.h)\n"
                    f"  echo $$ >> {pids}; sleep 120 & echo $! >> {pids}; wait;;\nesac; done\nexec gcc \"$@\"\n")
    slow.chmod(0o755)
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"), HDRTEST_DASK_SCHEDULER=client.scheduler.address,
               XDG_CACHE_HOME=str(tmp_path / "cache"))
    proc = subprocess.Popen([sys.executable, "-m", "hdrtest", "check", str(include), "--cc", str(slow),
                             f"--cflags=-I{include}", "--executor", "dask", "--no-cache", "-q", "--variants", "none"],
                            env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    started: list[int] = []
    try:
        deadline = time.monotonic() + 60
        while len(started) < 4:  # both workers are compiling: a shell and its sleep each
            assert proc.poll() is None and time.monotonic() < deadline, "the remote compiles never started"
            time.sleep(0.1)
            started = [int(p) for p in pids.read_text().split()]
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 130, err
        deadline = time.monotonic() + 10
        alive = started
        while alive and time.monotonic() < deadline:
            time.sleep(0.1)
            alive = [p for p in started if _running(p)]
        assert alive == [], f"worker compiles still running after '{err.strip()}'"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pid in started:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
