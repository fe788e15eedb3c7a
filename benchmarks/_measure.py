"""Small measuring helpers shared by the benchmark scripts."""

from __future__ import annotations


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
