"""Resource use of a process tree, read from /proc (Linux)."""

from __future__ import annotations

import os
import re
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")


def tree(pid: int) -> list[int]:
    """``pid`` and all its descendants."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
    found, stack = [], [pid]
    while stack:
        p = stack.pop()
        if p in parents:
            found.append(p)
            stack.extend(c for c, pp in parents.items() if pp == p)
    return found


def _kb(path: Path, field: str) -> int:
    try:
        match = re.search(rf"^{field}:\s+(\d+) kB", path.read_text(), re.M)
    except OSError:
        return 0
    return int(match.group(1)) if match else 0


def rss_mb(pid: int) -> float:
    """Resident memory summed over the tree (pages shared between processes count once each)."""
    return sum(_kb(Path(f"/proc/{p}/status"), "VmRSS") for p in tree(pid)) / 1024


def pss_mb(pid: int) -> float:
    """Proportional set size summed over the tree: shared pages split between their users."""
    return sum(_kb(Path(f"/proc/{p}/smaps_rollup"), "Pss") for p in tree(pid)) / 1024


def _cpu(stat: str) -> float:
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def cpu_seconds(pid: int) -> float:
    """User + system CPU time consumed so far by the tree."""
    total = 0.0
    for p in tree(pid):
        try:
            total += _cpu(Path(f"/proc/{p}/stat").read_text())
        except OSError:
            continue
    return total


def thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds so far per thread of the tree, keyed ``pid/tid name``."""
    out: dict[str, float] = {}
    for p in tree(pid):
        try:
            tasks = list(Path(f"/proc/{p}/task").iterdir())
        except OSError:
            continue
        for task in tasks:
            try:
                stat = (task / "stat").read_text()
            except OSError:
                continue
            out[f"{p}/{task.name} {stat[stat.index('(') + 1:stat.rindex(')')]}"] = _cpu(stat)
    return out
