"""Progress reporting for file transfers: a callable of the caller's, or a bar that suits
where the code runs (``st.progress`` inside a Streamlit script, tqdm in a terminal)."""

from __future__ import annotations

import contextlib
import io
import os
import sys
from typing import IO, Any, Callable, Iterator, Union

Report = Callable[[int, int], None]


def _ignore(done: int, total: int) -> None:
    pass


def _in_streamlit() -> bool:
    if "streamlit" not in sys.modules:
        return False
    try:
        from streamlit.runtime.scriptrunner import get_script_run_ctx
    except ImportError:
        return False
    return get_script_run_ctx(suppress_warning=True) is not None


def _streamlit_bar(description: str) -> Report:
    import streamlit as st

    bar = st.progress(0.0, text=description)

    def report(done: int, total: int) -> None:
        bar.progress(min(done / total, 1.0) if total else 1.0, text=description)

    return report


def _tqdm_bar(description: str) -> Report:
    try:
        from tqdm import tqdm
    except ImportError:
        return _ignore
    bar = tqdm(total=0, unit="B", unit_scale=True, desc=description)

    def report(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)
        if done >= total:
            bar.close()

    return report


def reporter(progress: Union[bool, Callable[[int, int], Any], None], description: str) -> Report:
    """The function to call with ``(done_bytes, total_bytes)`` as a transfer goes on."""
    if progress is None or progress is False:
        return _ignore
    if progress is True:
        return _streamlit_bar(description) if _in_streamlit() else _tqdm_bar(description)
    if not callable(progress):
        from ._errors import ConfigError

        raise ConfigError(
            f"progress must be a callable (done_bytes, total_bytes), True or None, "
            f"not {type(progress).__name__}"
        )
    return progress  # type: ignore[return-value]


@contextlib.contextmanager
def opened(path_or_fileobj: Union[str, "os.PathLike[str]", IO[bytes]], mode: str) -> Iterator[Any]:
    """The file object given, or the file at the path opened in ``mode`` and closed after."""
    if isinstance(path_or_fileobj, (str, os.PathLike)):
        with open(path_or_fileobj, mode) as file:
            yield file
    else:
        yield path_or_fileobj


def remaining(file: Any) -> int:
    """How many bytes are left to read in ``file``, or 0 when it cannot tell."""
    try:
        here = file.tell()
        end = file.seek(0, io.SEEK_END)
        file.seek(here)
        return max(end - here, 0)
    except (AttributeError, OSError, ValueError):
        return 0
