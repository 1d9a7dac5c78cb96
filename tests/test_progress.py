"""The process map: order kept, and the per-item time limit that is ingest's last guard against a stuck volume."""

from __future__ import annotations

import time
from pathlib import Path

from spect_toolkit.progress import TimedOut, map_with_progress


def _nap(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def test_results_keep_the_order_of_the_items():
    assert map_with_progress(_nap, [0.3, 0.0, 0.1], jobs=2) == [0.3, 0.0, 0.1]


def test_an_item_past_the_time_limit_is_killed_and_the_others_finish():
    start = time.monotonic()
    results = map_with_progress(_nap, [0.2, 60.0, 0.3, 0.1], jobs=2, timeout_s=3.0)
    assert results[0] == 0.2 and results[2:] == [0.3, 0.1]
    assert isinstance(results[1], TimedOut) and results[1].seconds == 3.0
    assert time.monotonic() - start < 30  # the stuck item did not hold the batch
    assert _workers_gone_within(10.0)  # neither the killed pool's workers nor the last pool's outlive the call


def _workers_gone_within(seconds: float) -> bool:
    """Whether the map's workers are gone within ``seconds``: a SIGKILLed process may take a moment to die on a
    busy machine, while a worker left running would still be in its 60-second nap."""
    deadline = time.monotonic() + seconds
    while _workers_left():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def _workers_left() -> list[int]:
    """Live processes started by this process's fork server (the map's workers)."""
    from multiprocessing import forkserver

    server = forkserver._forkserver._forkserver_pid
    left = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == server and fields[0] != "Z":
            left.append(int(stat.parent.name))
    return left
