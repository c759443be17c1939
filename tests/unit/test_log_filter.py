"""What the server keeps out of its log: errors it answered on purpose, and late cancels."""

import logging

from ragls.lsp.logs import ExpectedErrorFilter


def record(msg: str, *args: object, level: int = logging.WARNING) -> logging.LogRecord:
    return logging.LogRecord("pygls.protocol.json_rpc", level, __file__, 1, msg, args, None)


def test_a_cancel_for_an_answered_request_is_not_logged():
    assert not ExpectedErrorFilter().filter(record('Cancel notification for unknown message id "%s"', 12))


def test_other_warnings_are_logged():
    assert ExpectedErrorFilter().filter(record("Unknown method %s", "foo/bar"))
