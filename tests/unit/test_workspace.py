"""Tests for ragls.core.workspace: which files of a tree get indexed, and why the others do not."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ragls.core import workspace as workspace_module
from ragls.core.workspace import (
    DEFAULT_IGNORED_DIRS,
    SkipReason,
    SourceFile,
    WalkOptions,
    Workspace,
    workspace_id,
)

PY = "def f():\n    return 1\n"


def make_tree(root: Path, files: dict[str, str | bytes]) -> None:
    """Create files (text or bytes) under root, with their parent directories."""
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")


def indexed(ws: Workspace) -> list[str]:
    """The root-relative paths files() yields, in its order."""
    return [file.rel for file in ws.files()]


def all_paths(root: Path) -> list[Path]:
    """Every file, directory and link under root, links not followed, .git included."""
    found = []
    for directory, dirnames, filenames in os.walk(root, followlinks=False):
        found += [Path(directory, name) for name in dirnames + filenames]
    return sorted(found)


def assert_classify_agrees(ws: Workspace) -> None:
    """classify() gives a SourceFile exactly for the files files() yields, and the same one."""
    walked = {file.rel: file for file in ws.files()}
    for path in all_paths(ws.root):
        verdict = ws.classify(path)
        rel = path.relative_to(ws.root).as_posix()
        if rel in walked:
            assert verdict == walked[rel], rel
        else:
            assert isinstance(verdict, SkipReason), (rel, verdict)
    # Files reached only through followed directory links are not in os.walk's listing.
    for rel, file in walked.items():
        assert ws.classify(rel) == file, rel


# ---- ignore files


def test_nested_gitignore_with_negation_applies_to_its_subtree(tmp_path: Path) -> None:
    make_tree(
        tmp_path,
        {
            ".gitignore": "*.gen.py\n/only_top.py\nlogs/\n",
            "a.gen.py": PY,
            "only_top.py": PY,
            "logs/x.py": PY,
            "sub/.gitignore": "!keep.gen.py\nlocal.py\n",
            "sub/keep.gen.py": PY,
            "sub/drop.gen.py": PY,
            "sub/local.py": PY,
            "sub/only_top.py": PY,
            "other/local.py": PY,
        },
    )
    ws = Workspace(tmp_path)
    assert indexed(ws) == ["other/local.py", "sub/keep.gen.py", "sub/only_top.py"]
    assert ws.classify("sub/drop.gen.py") is SkipReason.IGNORED
    assert ws.classify("logs/x.py") is SkipReason.IGNORED
    assert_classify_agrees(ws)


def test_file_inside_ignored_directory_cannot_be_reincluded(tmp_path: Path) -> None:
    make_tree(tmp_path, {".gitignore": "gen/\n!gen/keep.py\n", "gen/keep.py": PY, "main.py": PY})
    ws = Workspace(tmp_path)
    assert indexed(ws) == ["main.py"]
    assert ws.classify("gen/keep.py") is SkipReason.IGNORED


def test_git_info_exclude_is_respected_and_dot_git_skipped(tmp_path: Path) -> None:
    make_tree(
        tmp_path,
        {
            ".git/info/exclude": "scratch.py\n",
            ".git/hooks/pre-commit.py": PY,
            "scratch.py": PY,
            "main.py": PY,
        },
    )
    ws = Workspace(tmp_path)
    assert indexed(ws) == ["main.py"]
    assert ws.classify("scratch.py") is SkipReason.IGNORED
    assert ws.classify(".git/hooks/pre-commit.py") is SkipReason.IGNORED
    assert_classify_agrees(ws)


def test_gitignore_above_a_root_inside_a_repository_applies(tmp_path: Path) -> None:
    make_tree(
        tmp_path,
        {
            ".git/info/exclude": "excluded.py\n",
            ".gitignore": "secret_dir/\n*.tmp.py\n",
            "pkg/main.py": PY,
            "pkg/x.tmp.py": PY,
            "pkg/excluded.py": PY,
            "pkg/secret_dir/a.py": PY,
        },
    )
    ws = Workspace(tmp_path / "pkg")
    assert indexed(ws) == ["main.py"]
    assert ws.classify("x.tmp.py") is SkipReason.IGNORED


def test_opening_a_folder_the_repository_ignores_still_indexes_it(tmp_path: Path) -> None:
    make_tree(tmp_path, {".git/HEAD": "", ".gitignore": "out/\n", "out/gen.py": PY})
    assert indexed(Workspace(tmp_path / "out")) == ["gen.py"]


def test_raglsignore_at_any_level_overrides_gitignore(tmp_path: Path) -> None:
    make_tree(
        tmp_path,
        {
            ".gitignore": "vendored.py\n",
            ".raglsignore": "fixtures/\n!vendored.py\n",
            "vendored.py": PY,
            "fixtures/f.py": PY,
            "lib/.raglsignore": "big_*.py\n",
            "lib/big_table.py": PY,
            "lib/small.py": PY,
            "big_root.py": PY,
        },
    )
    ws = Workspace(tmp_path)
    assert indexed(ws) == ["big_root.py", "lib/small.py", "vendored.py"]
    assert ws.classify("lib/big_table.py") is SkipReason.IGNORED
    assert_classify_agrees(ws)


def test_user_ignore_globs_are_strongest(tmp_path: Path) -> None:
    make_tree(
        tmp_path,
        {
            ".raglsignore": "!generated_ok.py\n",
            "docs/conf.py": PY,
            "generated_ok.py": PY,
            "src/a.py": PY,
            "src/a_test.py": PY,
        },
    )
    ws = Workspace(tmp_path, WalkOptions(ignore=("/docs/", "*_test.py", "generated_ok.py")))
    assert indexed(ws) == ["src/a.py"]
    assert ws.classify("src/a_test.py") is SkipReason.IGNORED
    assert_classify_agrees(ws)


def test_default_heavy_dirs_are_pruned_without_being_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = {f"{name}/x.py": PY for name in DEFAULT_IGNORED_DIRS}
    files |= {"src/node_modules/pkg/index.js": PY, "pkg.egg-info/x.py": PY, "src/main.py": PY}
    make_tree(tmp_path, files)
    scanned: list[str] = []
    real_scandir = os.scandir

    def recording_scandir(path: str) -> object:
        scanned.append(os.path.relpath(path, tmp_path))
        return real_scandir(path)

    monkeypatch.setattr(workspace_module.os, "scandir", recording_scandir)
    ws = Workspace(tmp_path)
    assert indexed(ws) == ["src/main.py"]
    assert sorted(scanned) == [".", "src"]
    assert ws.skipped()[SkipReason.IGNORED] == len(DEFAULT_IGNORED_DIRS) + 2
    assert ws.classify("node_modules/x.py") is SkipReason.IGNORED


def test_negation_brings_back_a_default_ignored_dir(tmp_path: Path) -> None:
    make_tree(tmp_path, {".raglsignore": "!build/\n", "build/tool.py": PY, "dist/x.py": PY})
    ws = Workspace(tmp_path)
    assert indexed(ws) == ["build/tool.py"]
    assert_classify_agrees(ws)


# ---- per-file rules


def test_secret_files_are_never_indexed(tmp_path: Path) -> None:
    make_tree(
        tmp_path,
        {
            ".raglsignore": "!.env.js\n",
            ".env.js": "export const KEY = 1\n",
            "config/.env": "KEY=1\n",
            "config/id_rsa.py": PY,
            "creds/prod.py": PY,
            "app.py": PY,
        },
    )
    ws = Workspace(tmp_path, WalkOptions(secret_globs=(*WalkOptions().secret_globs, "creds/")))
    assert indexed(ws) == ["app.py"]
    assert ws.classify(".env.js") is SkipReason.SECRET
    assert ws.classify("config/id_rsa.py") is SkipReason.SECRET
    assert ws.classify("creds/prod.py") is SkipReason.SECRET
    assert ws.skipped()[SkipReason.SECRET] == 3
    assert_classify_agrees(ws)


def test_unknown_extension_is_skipped(tmp_path: Path) -> None:
    make_tree(tmp_path, {"notes.txt": "hi\n", "image.png": b"\x89PNG", "Gemfile": "gem 'x'\n"})
    ws = Workspace(tmp_path)
    assert indexed(ws) == ["Gemfile"]
    assert ws.classify("notes.txt") is SkipReason.UNSUPPORTED_LANGUAGE
    assert ws.skipped()[SkipReason.UNSUPPORTED_LANGUAGE] == 2
    assert_classify_agrees(ws)


def test_huge_file_is_skipped_at_walk_and_at_read(tmp_path: Path) -> None:
    make_tree(tmp_path, {"big.py": "x = 1\n" * 100, "small.py": "x = 1\n"})
    ws = Workspace(tmp_path, WalkOptions(max_file_size=200))
    files = list(ws.files())
    assert [file.rel for file in files] == ["small.py"]
    assert ws.classify("big.py") is SkipReason.TOO_LARGE
    assert_classify_agrees(ws)
    (tmp_path / "small.py").write_text("x = 1\n" * 100)
    assert ws.read(files[0]) is SkipReason.TOO_LARGE
    assert ws.skipped()[SkipReason.TOO_LARGE] == 2


def test_binary_content_is_skipped_at_read(tmp_path: Path) -> None:
    control_heavy = bytes(range(1, 32)) * 40
    make_tree(tmp_path, {"nul.py": b"x = 1\n\x00\x01\x02", "ctl.py": control_heavy})
    ws = Workspace(tmp_path)
    files = {file.rel: file for file in ws.files()}
    assert ws.read(files["nul.py"]) is SkipReason.BINARY
    assert ws.read(files["ctl.py"]) is SkipReason.BINARY
    assert ws.skipped()[SkipReason.BINARY] == 2
    assert_classify_agrees(ws)


def test_invalid_utf8_and_legacy_encodings_are_still_indexed(tmp_path: Path) -> None:
    latin1 = "# café crème\nname = 'Müller'\n".encode("latin-1")
    koi8 = "# -*- coding: koi8-r -*-\ntext = 'Привет, мир'\n".encode("koi8-r")
    make_tree(tmp_path, {"latin.py": latin1, "koi8.py": koi8})
    ws = Workspace(tmp_path)
    files = {file.rel: file for file in ws.files()}
    assert ws.read(files["latin.py"]) == latin1
    assert ws.read(files["koi8.py"]) == koi8
    assert_classify_agrees(ws)


def test_minified_js_is_skipped(tmp_path: Path) -> None:
    one_line_bundle = "var a=1;" * 2000
    wrapped_bundle = ("function x(){return 1};" * 20 + "\n") * 10
    make_tree(
        tmp_path,
        {
            "lib.min.js": "var a=1;\n",
            "bundle.js": one_line_bundle,
            "wrapped.js": wrapped_bundle,
            "app.js": "function f() {\n  return 1;\n}\n" * 50,
        },
    )
    ws = Workspace(tmp_path)
    files = {file.rel: file for file in ws.files()}
    assert "lib.min.js" not in files
    assert ws.classify("lib.min.js") is SkipReason.MINIFIED
    assert ws.read(files["bundle.js"]) is SkipReason.MINIFIED
    assert ws.read(files["wrapped.js"]) is SkipReason.MINIFIED
    assert isinstance(ws.read(files["app.js"]), bytes)
    assert_classify_agrees(ws)


def test_one_long_line_in_hand_written_code_is_not_minified(tmp_path: Path) -> None:
    content = "TABLE = '" + "x" * 3000 + "'\n" + "def f(a, b):\n    return a + b\n" * 300
    make_tree(tmp_path, {"lexer.py": content})
    ws = Workspace(tmp_path)
    (file,) = ws.files()
    assert ws.read(file) == content.encode()


def test_go_generated_header_is_skipped(tmp_path: Path) -> None:
    header = "// Code generated by protoc-gen-go. DO NOT EDIT.\n// source: x.proto\n\npackage x\n"
    generator = 'package gen\n\nconst header = "// Code generated by gen. DO NOT EDIT."\n'
    protoc = "# -*- coding: utf-8 -*-\n# Generated by the protocol buffer compiler.  DO NOT EDIT!\n"
    make_tree(tmp_path, {"x.pb.go": header, "gen.go": generator, "y_pb2.py": protoc})
    ws = Workspace(tmp_path)
    files = {file.rel: file for file in ws.files()}
    assert ws.read(files["x.pb.go"]) is SkipReason.GENERATED
    assert ws.read(files["y_pb2.py"]) is SkipReason.GENERATED
    assert ws.read(files["gen.go"]) == generator.encode()
    assert_classify_agrees(ws)


def test_read_of_a_deleted_file_says_not_a_file(tmp_path: Path) -> None:
    make_tree(tmp_path, {"a.py": PY})
    ws = Workspace(tmp_path)
    (file,) = ws.files()
    (tmp_path / "a.py").unlink()
    assert ws.read(file) is SkipReason.NOT_A_FILE


# ---- symlinks


def test_symlink_to_a_file_inside_root_is_indexed_once(tmp_path: Path) -> None:
    make_tree(tmp_path, {".gitignore": "vendor/\n", "vendor/shared.py": PY, "src/real.py": PY})
    (tmp_path / "a_link.py").symlink_to(tmp_path / "src" / "real.py")
    (tmp_path / "shared.py").symlink_to(Path("vendor") / "shared.py")
    (tmp_path / "z_second.py").symlink_to(tmp_path / "vendor" / "shared.py")
    ws = Workspace(tmp_path)
    files = list(ws.files())
    # a_link.py duplicates src/real.py, indexed under its own path; the target of the other two
    # is ignored where it lies, so the first link in walk order carries it.
    assert [file.rel for file in files] == ["shared.py", "src/real.py"]
    assert files[0].path == tmp_path.resolve() / "shared.py"
    assert ws.classify("a_link.py") is SkipReason.DUPLICATE
    assert ws.classify("z_second.py") is SkipReason.DUPLICATE
    assert ws.read(files[0]) == PY.encode()
    assert_classify_agrees(ws)


def test_symlinked_dir_into_an_ignored_dir_is_followed_once(tmp_path: Path) -> None:
    make_tree(tmp_path, {".gitignore": "third_party/\n", "third_party/lib/mod.py": PY})
    (tmp_path / "lib").symlink_to(tmp_path / "third_party" / "lib", target_is_directory=True)
    (tmp_path / "lib_again").symlink_to(tmp_path / "third_party" / "lib", target_is_directory=True)
    ws = Workspace(tmp_path)
    assert indexed(ws) == ["lib/mod.py"]
    assert ws.classify("lib_again/mod.py") is SkipReason.DUPLICATE
    assert_classify_agrees(ws)


def test_classify_drops_a_claim_whose_link_is_gone(tmp_path: Path) -> None:
    make_tree(tmp_path, {".gitignore": "third_party/\n", "third_party/lib/mod.py": PY})
    (tmp_path / "a").symlink_to(tmp_path / "third_party" / "lib", target_is_directory=True)
    ws = Workspace(tmp_path)
    assert indexed(ws) == ["a/mod.py"]
    (tmp_path / "a").unlink()
    (tmp_path / "b").symlink_to(tmp_path / "third_party" / "lib", target_is_directory=True)
    assert isinstance(ws.classify("b/mod.py"), SourceFile)


def test_symlink_leaving_the_root_is_skipped(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    make_tree(tmp_path, {"outside/secret.py": PY, "outside/pkg/mod.py": PY, "root/main.py": PY})
    (root / "leak.py").symlink_to(outside / "secret.py")
    (root / "pkg").symlink_to(outside / "pkg", target_is_directory=True)
    ws = Workspace(root)
    assert indexed(ws) == ["main.py"]
    assert ws.skipped()[SkipReason.OUTSIDE_ROOT] == 2
    assert ws.classify(root / "leak.py") is SkipReason.OUTSIDE_ROOT
    assert ws.classify("pkg/mod.py") is SkipReason.OUTSIDE_ROOT
    assert ws.classify(outside / "secret.py") is SkipReason.OUTSIDE_ROOT
    assert ws.classify("../outside/secret.py") is SkipReason.OUTSIDE_ROOT
    assert_classify_agrees(ws)


def test_symlink_cycle_terminates_and_lists_each_file_once(tmp_path: Path) -> None:
    make_tree(
        tmp_path, {"a/x.py": PY, "a/b/y.py": PY, ".gitignore": "hidden/\n", "hidden/z.py": PY}
    )
    (tmp_path / "a" / "b" / "up").symlink_to("..", target_is_directory=True)
    (tmp_path / "a" / "root").symlink_to(tmp_path, target_is_directory=True)
    (tmp_path / "view").symlink_to(tmp_path / "hidden", target_is_directory=True)
    (tmp_path / "hidden" / "self").symlink_to(".", target_is_directory=True)
    ws = Workspace(tmp_path)
    assert indexed(ws) == ["a/b/y.py", "a/x.py", "view/z.py"]
    assert ws.classify("a/b/up/x.py") is SkipReason.DUPLICATE
    assert ws.classify("view/self/z.py") is SkipReason.DUPLICATE
    assert_classify_agrees(ws)


def test_symlink_cycle_is_caught_by_classify_without_a_walk(tmp_path: Path) -> None:
    make_tree(tmp_path, {".gitignore": "hidden/\n", "hidden/z.py": PY})
    (tmp_path / "view").symlink_to(tmp_path / "hidden", target_is_directory=True)
    (tmp_path / "hidden" / "self").symlink_to(".", target_is_directory=True)
    ws = Workspace(tmp_path)
    assert isinstance(ws.classify("view/z.py"), SourceFile)
    assert ws.classify("view/self/self/z.py") is SkipReason.DUPLICATE


def test_broken_and_self_referencing_symlinks_are_skipped(tmp_path: Path) -> None:
    make_tree(tmp_path, {"main.py": PY})
    (tmp_path / "gone.py").symlink_to(tmp_path / "missing.py")
    (tmp_path / "loop.py").symlink_to(tmp_path / "loop.py")
    ws = Workspace(tmp_path)
    assert indexed(ws) == ["main.py"]
    assert ws.skipped()[SkipReason.BROKEN_SYMLINK] == 2
    assert ws.classify("gone.py") is SkipReason.BROKEN_SYMLINK
    assert ws.classify("loop.py") is SkipReason.BROKEN_SYMLINK
    assert_classify_agrees(ws)


# ---- robustness, classify inputs, order


def test_unreadable_directory_is_skipped_without_raising(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_tree(tmp_path, {"locked/a.py": PY, "open/b.py": PY})
    real_scandir = os.scandir

    def denying_scandir(path: str) -> object:
        if os.path.basename(path) == "locked":
            raise PermissionError(13, "Permission denied", path)
        return real_scandir(path)

    monkeypatch.setattr(workspace_module.os, "scandir", denying_scandir)
    ws = Workspace(tmp_path)
    assert indexed(ws) == ["open/b.py"]
    assert ws.skipped()[SkipReason.UNREADABLE] == 1


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_file_is_skipped_at_read(tmp_path: Path) -> None:
    make_tree(tmp_path, {"a.py": PY})
    (tmp_path / "a.py").chmod(0)
    ws = Workspace(tmp_path)
    (file,) = ws.files()
    assert ws.read(file) is SkipReason.UNREADABLE


def test_classify_of_odd_paths(tmp_path: Path) -> None:
    make_tree(tmp_path, {"pkg/mod.py": PY})
    ws = Workspace(tmp_path)
    assert ws.classify(tmp_path / "pkg" / "mod.py") == ws.classify("pkg/mod.py")
    assert isinstance(ws.classify("pkg/../pkg/mod.py"), SourceFile)
    assert ws.classify("pkg/deleted.py") is SkipReason.NOT_A_FILE
    assert ws.classify("nowhere/deleted.py") is SkipReason.NOT_A_FILE
    assert ws.classify("pkg") is SkipReason.NOT_A_FILE
    assert ws.classify("pkg/mod.py/x.py") is SkipReason.NOT_A_FILE
    assert ws.classify("/") is SkipReason.OUTSIDE_ROOT
    assert ws.classify(tmp_path.parent / "elsewhere.py") is SkipReason.OUTSIDE_ROOT


def test_root_given_through_a_symlink(tmp_path: Path) -> None:
    make_tree(
        tmp_path, {"real/pkg/mod.py": PY, "real/.gitignore": "hidden/\n", "real/hidden/h.py": PY}
    )
    (tmp_path / "alias").symlink_to(tmp_path / "real", target_is_directory=True)
    (tmp_path / "real" / "view").symlink_to("hidden", target_is_directory=True)
    ws = Workspace(tmp_path / "alias")
    assert ws.root == (tmp_path / "real").resolve()
    files = list(ws.files())
    assert [file.rel for file in files] == ["pkg/mod.py", "view/h.py"]
    assert files[0].path == ws.root / "pkg" / "mod.py"
    assert ws.classify(tmp_path / "alias" / "pkg" / "mod.py") == files[0]
    assert ws.classify(tmp_path / "real" / "pkg" / "mod.py") == files[0]
    assert ws.classify(tmp_path / "alias" / "view" / "h.py") == files[1]


def test_classify_sees_a_new_ignore_file_without_a_walk(tmp_path: Path) -> None:
    make_tree(tmp_path, {"pkg/mod.py": PY})
    ws = Workspace(tmp_path)
    assert isinstance(ws.classify("pkg/mod.py"), SourceFile)
    make_tree(tmp_path, {"pkg/.gitignore": "mod.py\n"})
    assert ws.classify("pkg/mod.py") is SkipReason.IGNORED


def test_walk_is_sorted_and_source_file_metadata_is_right(tmp_path: Path) -> None:
    make_tree(
        tmp_path,
        {"b.py": PY, "a/z.go": "package a\n", "a/b.rs": "fn f() {}\n", "C.java": "class C {}\n"},
    )
    ws = Workspace(tmp_path)
    files = list(ws.files())
    assert [file.rel for file in files] == ["C.java", "a/b.rs", "a/z.go", "b.py"]
    stat = (tmp_path / "a" / "b.rs").stat()
    assert files[1] == SourceFile(
        tmp_path.resolve() / "a" / "b.rs", "a/b.rs", "rust", stat.st_size, stat.st_mtime_ns
    )


def test_skipped_counts_reset_on_each_walk(tmp_path: Path) -> None:
    make_tree(tmp_path, {"a.txt": "", "b.py": PY})
    ws = Workspace(tmp_path)
    list(ws.files())
    list(ws.files())
    assert ws.skipped() == {SkipReason.UNSUPPORTED_LANGUAGE: 1}


def test_workspace_id_is_stable_safe_and_distinct(tmp_path: Path) -> None:
    first, second = tmp_path / "my project", tmp_path / "other" / "my project"
    first.mkdir()
    second.mkdir(parents=True)
    assert workspace_id(first) == workspace_id(Path(str(first) + "/.")) == workspace_id(first)
    assert workspace_id(first) != workspace_id(second)
    name, _, digest = workspace_id(first).rpartition("-")
    assert name == "my_project" and len(digest) == 12
    assert all(char.isalnum() or char in "._-" for char in workspace_id(first))
    assert workspace_id(Path("/")).startswith("root-")
