"""The index worker's queue (debouncing, order) and the gate that lets queries go first."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from ragls.services.embedder import QueriesFirstGate
from ragls.services.jobs import MAX_DELAY_FACTOR, CloseIndexer, FileUpdate, FullRun, JobQueue, LoadModel

ROOT = Path("/work/project")


def test_a_burst_of_saves_becomes_one_update_after_the_quiet_period():
    queue = JobQueue(debounce_seconds=2.0)
    queue.add_files(ROOT, [ROOT / "a.py"], now=10.0)
    queue.add_files(ROOT, [ROOT / "b.py"], now=11.0)
    queue.add_files(ROOT, [ROOT / "a.py"], now=12.0)

    assert queue.next_job(13.0) == 1.0  # seconds to wait: due at 14
    assert queue.pending_files() == 2
    assert queue.next_job(14.0) == FileUpdate(ROOT, (ROOT / "a.py", ROOT / "b.py"))
    assert queue.next_job(14.0) is None and queue.pending_files() == 0


def test_a_steady_stream_of_events_cannot_postpone_the_update_forever():
    queue = JobQueue(debounce_seconds=1.0)
    for tick in range(20):
        queue.add_files(ROOT, [ROOT / f"f{tick}.py"], now=tick / 2)

    assert queue.next_job(MAX_DELAY_FACTOR - 0.5) == 0.5
    assert isinstance(queue.next_job(float(MAX_DELAY_FACTOR)), FileUpdate)


def test_housekeeping_then_due_updates_then_full_runs():
    queue = JobQueue(debounce_seconds=0.0)
    other = Path("/work/other")
    queue.add_full_run(ROOT)
    queue.add_full_run(ROOT)  # already queued
    queue.add_full_run(other)
    queue.add_files(other, [other / "x.py"], now=0.0)
    queue.add_housekeeping(LoadModel())
    queue.add_housekeeping(CloseIndexer("old"))

    order = [queue.next_job(1.0) for _ in range(6)]

    assert order == [
        LoadModel(),
        CloseIndexer("old"),
        FileUpdate(other, (other / "x.py",)),
        FullRun(ROOT),
        FullRun(other),
        None,
    ]


def test_dropping_a_folder_forgets_its_work():
    queue = JobQueue(debounce_seconds=0.0)
    queue.add_full_run(ROOT)
    queue.add_files(ROOT, [ROOT / "a.py"], now=0.0)

    queue.drop_folder(ROOT)

    assert not queue.has_index_work() and queue.next_job(1.0) is None


def test_a_waiting_query_goes_before_the_next_background_slice():
    gate = QueriesFirstGate()
    order: list[str] = []
    background_waiting = threading.Event()

    def background_slice() -> None:
        background_waiting.set()
        with gate.background():
            order.append("background")

    def query() -> None:
        with gate.foreground():
            order.append("query")

    with gate.foreground():  # something holds the gate; both others queue up behind it
        worker = threading.Thread(target=background_slice)
        worker.start()
        background_waiting.wait()
        time.sleep(0.05)
        asker = threading.Thread(target=query)
        asker.start()
        time.sleep(0.05)
    worker.join(5)
    asker.join(5)

    assert order == ["query", "background"]
