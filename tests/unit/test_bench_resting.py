"""The resting scenario's CPU reading: the scheduler's run time, fine enough for changes of a fraction of a ms."""

from __future__ import annotations

import itertools
import subprocess
import sys

import pytest

from bench.scenarios.resting import _cpu_s

# Burns ~3 ms of CPU per line it reads, then says how much CPU it has used in all and blocks for the next line.
_BURNER = """
import sys, time
for _ in sys.stdin:
    t0 = time.process_time()
    while time.process_time() - t0 < 0.003:
        pass
    print(time.process_time(), flush=True)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_cpu_reading_resolves_a_few_milliseconds_of_another_process() -> None:
    # psutil's reading moves in 10 ms ticks: 3 ms of work would read as 0 or 10 ms.
    child = subprocess.Popen([sys.executable, "-c", _BURNER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert child.stdin is not None and child.stdout is not None
    try:
        readings = []
        for _ in range(4):  # each reading taken while the child is blocked on its next line
            child.stdin.write("go\n")
            child.stdin.flush()
            own = float(child.stdout.readline())
            readings.append((_cpu_s(child.pid), own))
        for (seen0, own0), (seen1, own1) in itertools.pairwise(readings):
            assert seen1 - seen0 == pytest.approx(own1 - own0, abs=0.001)
    finally:
        child.kill()
        child.wait()
