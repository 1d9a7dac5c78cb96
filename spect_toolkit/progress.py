"""One progress bar for every long stage, so the CLI looks the same everywhere and library calls stay quiet."""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


@contextmanager
def progress_bar(label: str, total: int, enabled: bool = True) -> Iterator[Callable[..., None]]:
    """Yield ``advance(n=1, **fields)``; draws a rich bar when ``enabled``, does nothing otherwise."""
    if not enabled:
        yield lambda n=1, **fields: None
        return
    columns = [
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("left"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[info]}"),
    ]
    with Progress(*columns, transient=False) as progress:
        task = progress.add_task(label, total=total, info="")

        def advance(n: int = 1, info: str | None = None) -> None:
            progress.update(task, advance=n, **({"info": info} if info is not None else {}))

        yield advance


@dataclass(frozen=True)
class TimedOut:
    """What :func:`map_with_progress` returns for an item whose call ran past the time limit (its worker killed)."""

    seconds: float


def map_with_progress(
    func: Callable,
    items: list,
    jobs: int = 1,
    label: str = "",
    enabled: bool = False,
    initializer: Callable[[], None] | None = None,
    chunksize: int = 2,
    timeout_s: float | None = None,
) -> list:
    """``[func(item) for item in items]`` in ``jobs`` processes (order kept), advancing one progress bar.

    With ``timeout_s`` every call runs in a worker process of its own slot and one that runs longer is killed:
    its result is :class:`TimedOut`, and the batch goes on with the other items.
    """
    with progress_bar(label, total=len(items), enabled=enabled) as advance:
        if timeout_s is not None:
            return _map_with_time_limit(func, items, max(jobs, 1), initializer, timeout_s, advance)
        if jobs > 1 and len(items) > 1:
            from concurrent.futures import ProcessPoolExecutor

            results = []
            with ProcessPoolExecutor(max_workers=jobs, initializer=initializer) as pool:
                for result in pool.map(func, items, chunksize=chunksize):
                    results.append(result)
                    advance()
            return results
        results = []
        for item in items:
            results.append(func(item))
            advance()
        return results


def _map_with_time_limit(
    func: Callable, items: list, jobs: int, initializer, timeout_s: float, advance: Callable[..., None]
) -> list:
    # One item per free worker, so that an item's start is its submission; a late one takes its pool down
    # (a call stuck in C code cannot be interrupted any other way) and the others running are sent again.
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    results: list = [None] * len(items)
    waiting = list(range(len(items)))
    # forkserver, not fork: a forked worker would inherit the caller's open files and locks, and keep them after
    # the caller is killed
    context = multiprocessing.get_context("forkserver")
    pool = ProcessPoolExecutor(max_workers=jobs, initializer=initializer, mp_context=context)
    running: dict = {}  # future -> (index, start)
    try:
        while waiting or running:
            while waiting and len(running) < jobs:
                i = waiting.pop(0)
                running[pool.submit(func, items[i])] = (i, time.monotonic())
            oldest = min(start for _, start in running.values())
            done, _ = wait(
                running, timeout=max(0.0, oldest + timeout_s - time.monotonic()), return_when=FIRST_COMPLETED
            )
            for future in done:
                i, _ = running.pop(future)
                results[i] = future.result()
                advance()
            late = [(f, i) for f, (i, start) in running.items() if time.monotonic() - start >= timeout_s]
            if late:
                for future, i in late:
                    results[i] = TimedOut(timeout_s)
                    running.pop(future)
                    advance()
                waiting = [i for i, _ in running.values()] + waiting
                running = {}
                _kill(pool)
                pool = ProcessPoolExecutor(max_workers=jobs, initializer=initializer, mp_context=context)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return results


def _kill(pool) -> None:
    for process in list(getattr(pool, "_processes", {}).values()):
        process.kill()
    pool.shutdown(wait=False, cancel_futures=True)
