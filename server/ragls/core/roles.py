"""What part a piece of code plays: the implementation, or code around it (tests, benchmarks,
examples) that users look for less often. One general rule for every language, from the
conventions of their tools (pytest, go test, cargo, jest/mocha/vitest, rspec/minitest, JUnit),
never from one repository.
"""

from __future__ import annotations

import functools
import re
from pathlib import PurePosixPath

IMPLEMENTATION, TEST, EXAMPLE = "implementation", "test", "example"

# Folder names that hold tests, benchmarks or examples in the ecosystems ragls indexes.
_TEST_DIRS = frozenset({"test", "tests", "testing", "spec", "specs", "__tests__", "testdata", "test_helpers",
                        "benches", "benchmark", "benchmarks", "e2e"})
_EXAMPLE_DIRS = frozenset({"example", "examples", "demo", "demos", "samples", "sample"})
# File names of tests: test_x.py, x_test.py, x_test.go, x.test.ts, x.spec.js, x_spec.rb, XTest.java.
_TEST_FILE = re.compile(
    r"^(?:test_.*|.*_test|.*[._-](?:test|spec|tests|bench)|.*_spec|conftest|.*(?:Test|Tests))\.[A-Za-z0-9]+$"
)
# Function names of tests and benchmarks: test_x / testX (pytest, JUnit 3), TestX, BenchmarkX,
# ExampleX, FuzzX (go test).
_TEST_FUNCTION = re.compile(r"^(?:test_|test[A-Z]|Test[A-Z_]|Benchmark[A-Z_]|Fuzz[A-Z_])")
_EXAMPLE_FUNCTION = re.compile(r"^Example(?:[A-Z_]|$)")


def code_role(path: str, name: str) -> str:
    """IMPLEMENTATION, TEST (tests and benchmarks) or EXAMPLE, for a function at `path` (root-
    relative) with qualified `name`."""
    short = re.split(r"\.|::|#", name)[-1]
    path_role = _path_role(path)
    if path_role == TEST or _TEST_FUNCTION.match(short):
        return TEST
    if path_role == EXAMPLE or _EXAMPLE_FUNCTION.match(short):
        return EXAMPLE
    return IMPLEMENTATION


@functools.lru_cache(maxsize=65536)  # every search asks again for the paths of its candidates
def _path_role(path: str) -> str:
    """TEST or EXAMPLE when the path alone says so (its folders or file name), else IMPLEMENTATION."""
    parts = PurePosixPath(path).parts
    folders = {part.lower() for part in parts[:-1]}
    if folders & _TEST_DIRS or _TEST_FILE.match(parts[-1] if parts else ""):
        return TEST
    if folders & _EXAMPLE_DIRS:
        return EXAMPLE
    return IMPLEMENTATION
