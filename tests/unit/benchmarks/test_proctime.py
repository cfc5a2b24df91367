"""A process tree's CPU: what a live child's own children used and it reaped counts too
(the fork server's runs), as the runs measured their own time."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from benchmarks.proctime import tree_cpu_split

#: Grandchildren that burn CPU, report what they used, and are reaped by their parent,
#: which then waits (alive) under the measured root.
PARENT = textwrap.dedent("""
    import subprocess, sys
    burn = ("import time\\nt = time.process_time()\\n"
            "while time.process_time() - t < 0.4: pass\\nprint(time.process_time())")
    for _ in range(2):
        run = subprocess.run([sys.executable, "-c", burn], capture_output=True, text=True)
        print(run.stdout.strip(), flush=True)
    print("done", flush=True)
    sys.stdin.read()
""")


def test_a_live_childs_reaped_children_count_below_the_root() -> None:
    wrapper = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {PARENT!r}])"
    root = subprocess.Popen([sys.executable, "-c", wrapper], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert root.stdout is not None
        reported = []
        while (line := root.stdout.readline().strip()) != "done":
            reported.append(float(line))
        own, below = tree_cpu_split(root.pid)
    finally:
        root.communicate("")
    # Each grandchild measured itself; /proc counts in clock ticks (0.01 s), and their
    # interpreters' start-up adds to what they reported.
    assert below >= sum(reported) - 0.02
    assert own < sum(reported)


def test_no_such_process_used_nothing() -> None:
    assert tree_cpu_split(None) == (0.0, 0.0)
    assert tree_cpu_split(2**22 + 1) == (0.0, 0.0)  # above the kernel's pid_max
