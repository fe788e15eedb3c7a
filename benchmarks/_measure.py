"""Small measuring helpers shared by the benchmark scripts."""

from __future__ import annotations

import os

TICKS = os.sysconf("SC_CLK_TCK")


def pct(values, q: float):
    """The q-th percentile (0-100) by nearest rank: one of the values measured."""
    v = sorted(values)
    return v[min(len(v) - 1, int(round(q / 100 * (len(v) - 1))))]


def proc_stat(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (field 3 on), or None if the
    process is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None


def procs_of(pid: int) -> list[int]:
    """The server's process and its children (the forked workers, the stacks' worker)."""
    children = [int(d) for d in os.listdir("/proc") if d.isdigit()
                and (f := proc_stat(int(d))) is not None and int(f[1]) == pid]
    return [pid, *children]


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of the processes (utime and stime, fields 14 and 15)."""
    stats = [f for f in map(proc_stat, pids) if f is not None]
    return sum(int(f[11]) + int(f[12]) for f in stats) / TICKS
