"""Media processes of `xmer serve` (`xmer.serving.media_workers`): jobs run there at a lower priority,
errors come back as themselves, a dead process fails its request clearly, and no process outlives
the worker that started it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from xmer.errors import DataError
from xmer.inference import DEFAULT_MODEL
from xmer.serving.media_workers import MediaWorkers

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="priorities and process checks are Linux's")


def nice_and_pid(recognizer) -> tuple[int, int, list[str]]:
    return os.getpriority(os.PRIO_PROCESS, 0), os.getpid(), list(recognizer.labels)


def fails(recognizer):
    raise DataError("no face found in clip.mp4")


def dies(recognizer):
    os._exit(3)


@pytest.fixture(scope="module")
def workers():
    pool = MediaWorkers(DEFAULT_MODEL, "torch", processes=1, nice=5)
    yield pool
    pool.close()


def test_jobs_run_in_a_process_of_their_own_at_a_lower_priority_with_the_model(workers):
    nice, pid, labels = workers.run(nice_and_pid)
    assert pid != os.getpid() and nice == min(19, os.getpriority(os.PRIO_PROCESS, 0) + 5)
    assert "happy" in labels


def test_a_jobs_error_comes_back_as_itself(workers):
    with pytest.raises(DataError, match="no face found in clip.mp4"):
        workers.run(fails)


def test_a_process_that_dies_fails_its_request_and_the_next_one_starts_afresh(workers):
    with pytest.raises(RuntimeError, match="media process stopped unexpectedly"):
        workers.run(dies)
    assert workers.run(nice_and_pid)[1] != os.getpid()  # a new pool answers


def test_media_processes_end_when_their_worker_is_killed(tmp_path):
    """A worker killed with SIGKILL cannot stop its pool; its media processes must notice and end."""
    script = tmp_path / "worker.py"
    script.write_text(textwrap.dedent(f"""
        import sys
        from xmer.serving.media_workers import MediaWorkers
        from test_media_workers import nice_and_pid
        if __name__ == "__main__":  # a spawned process imports this file again
            pool = MediaWorkers({str(DEFAULT_MODEL)!r}, "torch", processes=1, nice=0)
            print(pool.run(nice_and_pid)[1], flush=True)
            sys.stdin.read()
    """))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([os.path.dirname(__file__), os.environ.get("PYTHONPATH", "")])}
    worker = subprocess.Popen([sys.executable, str(script)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    child = int(worker.stdout.readline())
    worker.send_signal(signal.SIGKILL)
    worker.wait(10)
    for _ in range(100):
        if not os.path.exists(f"/proc/{child}") or open(f"/proc/{child}/stat").read().split()[2] == "Z":
            break
        time.sleep(0.1)
    else:
        os.kill(child, signal.SIGKILL)
        pytest.fail(f"media process {child} outlived its worker")
