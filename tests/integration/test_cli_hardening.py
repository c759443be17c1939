"""The `ragls` command against broken caches, full disks, read-only folders and odd arguments:
every failure is one clear line and exit status 2, nothing is lost, nothing wrong is answered.

Real subprocesses on real files. A full disk is a real write limit (RLIMIT_FSIZE: writes past it
fail with EFBIG); read-only means a folder the command's user cannot write, so as root the
command runs as `nobody` (setpriv).
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from conftest import write_files

pytestmark = pytest.mark.slow

FILES = {
    "billing/invoice.py": '''def render_invoice_pdf(order):
    """Draw the invoice of an order as a PDF page with its lines and totals."""
    return {"pdf": [line.price for line in order.lines]}
''',
    "net/retry.py": '''def retry_with_backoff(call, attempts=5):
    """Call a flaky network function again, waiting twice as long after each failure."""
    for attempt in range(attempts):
        try:
            return call()
        except ConnectionError:
            wait(2 ** attempt)
''',
}


def ragls(*args: str, cache: Path, cwd: Path | None = None, user: str | None = None, **popen) -> subprocess.CompletedProcess:
    env = {**os.environ, "RAGLS_CACHE_DIR": str(cache), "OPENBLAS_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, "-m", "ragls", *args]
    if user == "nobody" and os.geteuid() == 0:
        command = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *command]
        env["HOME"] = str(cache.parent)
    return subprocess.run(command, capture_output=True, text=True, env=env, cwd=cwd, timeout=300, **popen)


def one_line_error(result: subprocess.CompletedProcess, *words: str) -> str:
    """The error line of a failed command (exit 2): one line, last on stderr (after the progress
    bar, if one was drawn), no traceback, holding `words`."""
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, (result.returncode, result.stderr)
    errors = [line for line in lines if "error" in line.lower() or "Traceback" in line]
    assert errors == lines[-1:] and lines[-1].startswith("ragls: error: "), result.stderr
    for word in words:
        assert word in lines[-1], lines[-1]
    return lines[-1]


def top_name(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["results"][0]["name"]


@pytest.fixture
def world():
    """A workspace and cache in a folder `nobody` can read (pytest's tmp_path is root's only)."""
    base = Path(tempfile.mkdtemp(prefix="ragls-hardening-"))
    base.chmod(0o755)
    root, cache = base / "workspace", base / "cache"
    write_files(root, FILES)
    for path in [root, *root.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    yield root, cache
    for path in [base, *base.rglob("*")]:
        if path.is_dir():
            path.chmod(0o755)
    shutil.rmtree(base, ignore_errors=True)


def store_of(cache: Path) -> Path:
    (store,) = cache.glob("*/store.sqlite3")
    return store


# data -----------------------------------------------------------------------------------------
def test_a_reset_store_never_answers_with_another_files_function(world):
    root, cache = world
    assert ragls("index", str(root), cache=cache).returncode == 0
    store_of(cache).write_bytes(b"garbage " * 1000)
    (root / "net/retry.py").rename(root / "net/backoff.py")
    result = ragls("index", str(root), "--json", cache=cache)
    assert result.returncode == 0, result.stderr
    assert "set it aside" in result.stderr and json.loads(result.stdout)["embedded"] == 2
    dense = ("--json", "--ranking", "dense", "--root", str(root))
    assert top_name(ragls("search", "draw an invoice as a PDF", *dense, cache=cache)) == "render_invoice_pdf"
    assert top_name(ragls("search", "call again after a network failure", *dense, cache=cache)) == "retry_with_backoff"


def test_a_store_with_damaged_pages_is_set_aside_rebuilt_and_said_once(world):
    root, cache = world
    assert ragls("index", str(root), cache=cache).returncode == 0
    store = store_of(cache)
    data = bytearray(store.read_bytes())
    data[4096 : len(data) - 4096] = b"\x5a" * (len(data) - 8192)  # every page but the first and last
    store.write_bytes(bytes(data))
    result = ragls("index", str(root), cache=cache)
    assert result.returncode == 0, result.stderr
    notices = [line for line in result.stderr.splitlines() if line.startswith("ragls: ")]
    assert len(notices) == 1 and "is damaged" in notices[0] and "rebuilt the index" in notices[0]
    assert "Traceback" not in result.stderr
    assert list(store.parent.glob("store.sqlite3.broken-*"))
    again = ragls("index", str(root), "--json", cache=cache)
    assert json.loads(again.stdout)["embedded"] == 0 and "ragls:" not in again.stderr
    assert top_name(ragls("search", "draw an invoice as a PDF", "--json", "--root", str(root), cache=cache)) == "render_invoice_pdf"


def limit_file_size(limit: int):
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_a_full_disk_is_one_line_and_loses_nothing(world):
    root, cache = world
    assert ragls("index", str(root), cache=cache).returncode == 0
    write_files(root, {f"more/m{i}.py": f"def handler_{i}(event):\n    return event.get({i!r})\n" for i in range(300)})
    index_file = next(store_of(cache).parent.glob("index-*.hnsw"))
    full = ragls("index", str(root), cache=cache, preexec_fn=limit_file_size(index_file.stat().st_size + 4096))
    one_line_error(full)
    assert not [p for p in store_of(cache).parent.iterdir() if p.suffix == ".hnsw" and p.stat().st_size == 0]
    result = ragls("index", str(root), "--json", cache=cache)
    assert result.returncode == 0 and json.loads(result.stdout)["files"] == 302
    assert top_name(ragls("search", "draw an invoice as a PDF", "--json", "--root", str(root), cache=cache)) == "render_invoice_pdf"


def test_a_read_only_cache_searches_and_refuses_to_index_in_one_line(world):
    root, cache = world
    assert ragls("index", str(root), cache=cache).returncode == 0
    for path in [cache, *cache.rglob("*")]:
        path.chmod(0o555 if path.is_dir() else 0o444)
    assert top_name(ragls("search", "draw an invoice as a PDF", "--json", "--root", str(root), cache=cache, user="nobody")) == "render_invoice_pdf"
    status = ragls("status", str(root), "--json", cache=cache, user="nobody")
    assert status.returncode == 0 and json.loads(status.stdout)["chunks"] == 2, status.stderr
    one_line_error(ragls("index", str(root), cache=cache, user="nobody"), "cache directory is read-only")
    assert not list(cache.rglob("*.broken-*")), "a healthy store must never be set aside"


def test_status_of_a_folder_never_indexed_creates_nothing(world):
    root, cache = world
    one_line_error(ragls("status", str(root), cache=cache), "not indexed yet")
    one_line_error(ragls("search", "invoice", "--root", str(root), cache=cache), "not indexed yet")
    assert not cache.exists()


# arguments and environments -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("related", "{root}/billing/invoice.py:²"), ("FILE:LINE",)),
        (("related", "{root}/billing/invoice.py:0"), ("FILE:LINE",)),
        (("index", "{root}", "--max-file-size", "0"), ("1 to 1000000000",)),
        (("index", "{root}", "--max-file-size", "-5"), ("1 to 1000000000",)),
        (("index", "{root}", "--model", "/nonexistent/model"), ("no embedding model folder at /nonexistent/model",)),
        (("serve", "--tcp", "999.1.1.1:2087"), ("cannot listen on 999.1.1.1:2087",)),
        (("serve", "--tcp", "127.0.0.1:99999"), ("port from 1 to 65535",)),
    ],
)
def test_bad_arguments_are_one_line(world, args, words):
    root, cache = world
    result = ragls(*(arg.format(root=root) for arg in args), cache=cache)
    if args[-1] in ("0", "-5"):  # argparse's own usage error: a usage line, then the reason
        assert result.returncode == 2 and words[0] in result.stderr.splitlines()[-1]
        return
    one_line_error(result, *words)


def test_a_port_in_use_is_one_line(world):
    _, cache = world
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        one_line_error(ragls("serve", "--tcp", f"127.0.0.1:{port}", cache=cache), f"cannot listen on 127.0.0.1:{port}")


def test_an_unreadable_root_folder_is_an_error_not_an_empty_index(world):
    root, cache = world
    root.chmod(0o700 if os.geteuid() == 0 else 0o000)  # root's own folder: nobody cannot list it
    cache.mkdir(mode=0o777)
    cache.chmod(0o777)
    one_line_error(ragls("index", str(root), cache=cache, user="nobody"), "cannot read the folder")
