"""A one-line progress bar on stderr for `ragls index`: files, chunks, chunks/s and ETA."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from ragls.core.run import Progress

REDRAW_SECONDS_TTY = 0.1
REDRAW_SECONDS_LOG = 5.0  # when stderr is a file or pipe, a line every few seconds is enough


class ProgressBar:
    """Draws `Progress` updates; call `close()` to end the line."""

    def __init__(self, stream: TextIO = sys.stderr):
        self.stream = stream
        self.is_tty = stream.isatty()
        self._last_draw = 0.0
        self._last_phase = ""
        self._phase_started = time.monotonic()
        self._drawn = False

    def __call__(self, progress: Progress) -> None:
        """Show an update, throttled unless the phase changed or it is the last step."""
        now = time.monotonic()
        interval = REDRAW_SECONDS_TTY if self.is_tty else REDRAW_SECONDS_LOG
        final = progress.chunks_total and progress.chunks_done == progress.chunks_total
        if progress.phase == self._last_phase and not final and now - self._last_draw < interval:
            return
        if progress.phase != self._last_phase:
            self._phase_started = now
        self._last_phase = progress.phase
        self._last_draw = now
        self._draw(format_progress(progress, now - self._phase_started))

    def close(self) -> None:
        """Finish the bar's line."""
        if self._drawn and self.is_tty:
            self.stream.write("\n")
            self.stream.flush()

    def _draw(self, line: str) -> None:
        if self.is_tty:
            self.stream.write("\r\x1b[2K" + line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()
        self._drawn = True


def format_progress(progress: Progress, phase_seconds: float) -> str:
    """One line of text for a progress update; `phase_seconds` is the time spent in its phase."""
    if progress.phase == "embedding" and progress.chunks_total:
        rate = progress.chunks_done / phase_seconds if phase_seconds > 0 else 0.0
        left = progress.chunks_total - progress.chunks_done
        eta = _duration(left / rate) if rate > 0 else "?"
        return (
            f"embedding {_bar(progress.chunks_done, progress.chunks_total)} "
            f"{progress.chunks_done}/{progress.chunks_total} chunks  {rate:.1f} chunks/s  ETA {eta}"
        )
    if progress.phase == "searching" and progress.chunks_total:
        return (
            f"searching {_bar(progress.chunks_done, progress.chunks_total)} "
            f"{progress.chunks_done}/{progress.chunks_total} queries"
        )
    if progress.phase == "parsing" and progress.files_total:
        return (
            f"parsing   {_bar(progress.files_done, progress.files_total)} "
            f"{progress.files_done}/{progress.files_total} files"
        )
    return f"{progress.phase}..."


def _bar(done: int, total: int, width: int = 24) -> str:
    filled = int(width * done / total) if total else width
    return "[" + "#" * filled + "." * (width - filled) + "]"


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"
