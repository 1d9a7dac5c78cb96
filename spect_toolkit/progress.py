"""One progress bar for every long stage, so the CLI looks the same everywhere and library calls stay quiet."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


@contextmanager
def progress_bar(label: str, total: int, enabled: bool = True) -> Iterator[Callable[..., None]]:
    """Yield ``advance(n=1, **fields)``; draws a rich bar when ``enabled``, does nothing otherwise."""
    if not enabled:
        yield lambda n=1, **fields: None
        return
    columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn(), TextColumn("left"), TimeRemainingColumn(), TextColumn("{task.fields[info]}")]
    with Progress(*columns, transient=False) as progress:
        task = progress.add_task(label, total=total, info="")

        def advance(n: int = 1, info: str | None = None) -> None:
            progress.update(task, advance=n, **({"info": info} if info is not None else {}))

        yield advance


def map_with_progress(func: Callable, items: list, jobs: int = 1, label: str = "", enabled: bool = False,
                      initializer: Callable[[], None] | None = None, chunksize: int = 2) -> list:
    """``[func(item) for item in items]`` in ``jobs`` processes (order kept), advancing one progress bar."""
    from concurrent.futures import ProcessPoolExecutor

    results = []
    with progress_bar(label, total=len(items), enabled=enabled) as advance:
        if jobs > 1 and len(items) > 1:
            with ProcessPoolExecutor(max_workers=jobs, initializer=initializer) as pool:
                for result in pool.map(func, items, chunksize=chunksize):
                    results.append(result)
                    advance()
        else:
            for item in items:
                results.append(func(item))
                advance()
    return results
