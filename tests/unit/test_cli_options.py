"""Options given before the command count as much as after it."""

import pytest

from ragls.__main__ import build_parser, run_serve, run_status


@pytest.mark.parametrize(
    "argv, verbose, log_file",
    [
        (["-v", "serve"], 1, None),
        (["serve", "-vv"], 2, None),
        (["--log-file", "x.log", "serve", "--stdio"], 0, "x.log"),
        (["-v", "status"], 1, None),
        (["status", "--log-file", "y.log"], 0, "y.log"),
        ([], 0, None),
    ],
)
def test_logging_options_before_or_after_the_command(argv, verbose, log_file):
    args = build_parser().parse_args(argv)
    assert (args.verbose, args.log_file) == (verbose, log_file)


def test_server_options_before_the_serve_command_stand():
    args = build_parser().parse_args(["--tcp", "127.0.0.1:9000", "serve"])
    assert args.handler is run_serve and args.tcp == "127.0.0.1:9000"
    assert build_parser().parse_args(["status"]).handler is run_status
