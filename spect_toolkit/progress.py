"""One progress bar for every long stage, so the CLI looks the same everywhere and library calls stay quiet."""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeElapsedColumn
from rich.text import Text


class _LeftColumn(ProgressColumn):
    """Time left: to the end of the work, or to the task's deadline (a time budget) when that comes first."""

    def render(self, task) -> Text:
        left = task.time_remaining
        deadline = task.fields.get("deadline")
        if deadline is not None:
            to_deadline = max(0.0, deadline - time.time())
            left = to_deadline if left is None else min(left, to_deadline)
        if left is None:
            return Text("left -:--:--", style="progress.remaining")
        minutes, seconds = divmod(int(left), 60)
        hours, minutes = divmod(minutes, 60)
        return Text(f"left {hours}:{minutes:02d}:{seconds:02d}", style="progress.remaining")


@contextmanager
def progress_bar(
    label: str, total: int, enabled: bool = True, deadline: float | None = None
) -> Iterator[Callable[..., None]]:
    """Yield ``advance(n=1, info=None)``; draws a rich bar when ``enabled``, does nothing otherwise.

    The bar fits an 80-column terminal; ``deadline`` (a ``time.time()``) caps the time shown as left, for work that
    a time budget may end before its total.
    """
    if not enabled:
        yield lambda n=1, **fields: None
        return
    columns = [
        TextColumn("[bold]{task.description}"),
        BarColumn(bar_width=16),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        _LeftColumn(),
        TextColumn("{task.fields[info]}"),
    ]
    with Progress(*columns, transient=False) as progress:
        task = progress.add_task(label, total=total, info="", deadline=deadline)

        def advance(n: int = 1, info: str | None = None) -> None:
            progress.update(task, advance=n, **({"info": info} if info is not None else {}))

        yield advance


# Workers start from a fork server, not by forking the caller: a forked worker inherits the caller's open files,
# locks and pipes, so when the caller is killed it neither sees the end of its work queue nor releases the lock.
_CONTEXT = multiprocessing.get_context("forkserver")


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
            with ProcessPoolExecutor(max_workers=jobs, initializer=initializer, mp_context=_CONTEXT) as pool:
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
    pool = ProcessPoolExecutor(max_workers=jobs, initializer=initializer, mp_context=_CONTEXT)
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
                pool = ProcessPoolExecutor(max_workers=jobs, initializer=initializer, mp_context=_CONTEXT)
    except BaseException:
        _kill(pool)  # an error or an interrupt: no worker may outlive the call
        raise
    pool.shutdown(wait=True)  # every item is done: the workers exit on the sentinel, none is left behind
    return results


def _kill(pool) -> None:
    for process in list(getattr(pool, "_processes", {}).values()):
        process.kill()
    pool.shutdown(wait=False, cancel_futures=True)
