"""Index runs as `$/progress` (window/workDoneProgress), and engine problems as messages.

For each full run of a folder the server creates a token (`window/workDoneProgress/create`),
then sends `begin`, `report`s with a message and a percentage, and `end` with a summary. Only
clients that announce `window.workDoneProgress` get them. The percentage rises steadily: reading
files counts for the first 20 %, embedding functions for the remaining 80 %.

The engine calls `ClientReporter` on its worker thread; everything is handed over to the event
loop (pygls is not thread-safe), and reports are throttled so a fast run does not flood the client.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from lsprotocol import types

from ragls.core.indexer import IndexReport
from ragls.core.run import Progress, describe_progress
from ragls.lsp.base import RaglsServer
from ragls.services.worker import EngineListener, IndexRun

log = logging.getLogger(__name__)

REPORT_INTERVAL = 0.25  # seconds between two reports of one run
READING_SHARE = 20  # percent of a run's bar given to reading files; embedding gets the rest


@dataclass(frozen=True)
class _Report:
    message: str
    percentage: int


@dataclass(frozen=True)
class _End:
    message: str


def percentage(progress: Progress) -> int:
    """How far a run is, 0 to 100."""
    if progress.phase == "parsing" and progress.files_total:
        return READING_SHARE * progress.files_done // progress.files_total
    if progress.phase == "embedding":
        if not progress.chunks_total:
            return READING_SHARE
        return READING_SHARE + (100 - READING_SHARE) * progress.chunks_done // progress.chunks_total
    return 100 if progress.phase == "saving" else 0


class ClientReporter(EngineListener):
    """Sends the engine's events to the client, through the event loop."""

    def __init__(self, server: RaglsServer):
        self.server = server
        capabilities = server.client_capabilities
        self.enabled = bool(capabilities.window and capabilities.window.work_done_progress)
        self._last_report: dict[int, tuple[float, str]] = {}  # run id -> (time, phase); worker only
        self._runs: dict[int, asyncio.Queue] = {}  # event loop only

    # worker thread ---------------------------------------------------------------------
    def run_started(self, run: IndexRun) -> None:
        """Create the run's progress token and send `begin`."""
        if self.enabled:
            self._last_report[run.id] = (0.0, "")
            self.server.post(self._start, run)

    def run_progressed(self, run: IndexRun, progress: Progress) -> None:
        """Send a `report`, at most every REPORT_INTERVAL (and at each new phase)."""
        if not self.enabled:
            return
        now = time.monotonic()
        last_time, last_phase = self._last_report.get(run.id, (0.0, ""))
        if progress.phase == last_phase and now - last_time < REPORT_INTERVAL:
            return
        self._last_report[run.id] = (now, progress.phase)
        self.server.post(self._queue_event, run, _Report(describe_progress(progress), percentage(progress)))

    def run_finished(self, run: IndexRun, report: IndexReport | None, summary: str) -> None:
        """Send `end` with the run's summary."""
        if self.enabled:
            self._last_report.pop(run.id, None)
            self.server.post(self._queue_event, run, _End(summary))

    def problem(self, message: str) -> None:
        """Show an error the user must act on."""
        self.server.post(self.server.show_message, f"ragls: {message}", types.MessageType.Error)

    def notice(self, message: str) -> None:
        """Show what the user should know about a run (a damaged index was rebuilt)."""
        self.server.post(self.server.show_message, f"ragls: {message}", types.MessageType.Warning)

    # event loop ------------------------------------------------------------------------
    def _start(self, run: IndexRun) -> None:
        queue: asyncio.Queue = asyncio.Queue()
        self._runs[run.id] = queue
        self.server.spawn(self._send_run(run, queue))

    def _queue_event(self, run: IndexRun, event: _Report | _End) -> None:
        queue = self._runs.get(run.id)
        if queue is not None:
            queue.put_nowait(event)

    async def _send_run(self, run: IndexRun, queue: asyncio.Queue) -> None:
        token = f"ragls-index-{run.id}"
        progress = self.server.work_done_progress
        try:
            await progress.create_async(token)
        except Exception as exc:  # the client refused the token: no progress for this run
            log.info("no progress for run %d: %s", run.id, exc)
            self._runs.pop(run.id, None)
            return
        title = f"ragls: indexing {run.folder.name or run.folder}"
        progress.begin(token, types.WorkDoneProgressBegin(title=title, cancellable=False, percentage=0))
        while True:
            event = await queue.get()
            if isinstance(event, _End):
                progress.end(token, types.WorkDoneProgressEnd(message=event.message))
                self._runs.pop(run.id, None)
                return
            progress.report(
                token, types.WorkDoneProgressReport(message=event.message, percentage=event.percentage)
            )
