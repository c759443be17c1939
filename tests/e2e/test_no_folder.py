"""A client that names no workspace folder (Neovim on a file without a root marker): the first
file opened chooses the folder to index, and a home folder is never walked as a whole."""

from __future__ import annotations

import pytest
from conftest import SAMPLE_FILES, write_files
from lsp_session import start_session

pytestmark = [pytest.mark.slow, pytest.mark.asyncio]

NOTES = '''def summarize_meeting_notes(notes):
    """Turn a page of meeting notes into three bullet points."""
    return notes.splitlines()[:3]
'''
OTHER = '''def backup_photos_to_disk(folder):
    """Copy every photo of a folder to the external disk."""
    return folder
'''


async def test_the_git_work_tree_of_the_first_open_file_is_indexed(tmp_path):
    repo = tmp_path / "repo"
    write_files(repo, SAMPLE_FILES)
    (repo / ".git").mkdir()
    session = await start_session([], tmp_path / "cache", env={"HOME": str(tmp_path / "home")})
    try:
        status = await session.wait_for(lambda s: s["state"] != "starting")
        assert status["roots"] == [] and "no workspace folder" in status["message"]
        session.open(repo / "shop" / "cart.py")
        status = await session.wait_for(lambda s: s["state"] == "ready" and s["roots"])
        assert status["roots"] == [repo.as_uri()] and status["files"] == len(SAMPLE_FILES)
        assert "the git work tree of cart.py" in status["message"]
        found = await session.search("reduce a total by a percentage discount")
        assert found["results"][0]["name"] == "apply_discount"
    finally:
        await session.stop()


async def test_a_home_folder_is_never_walked_only_its_open_files_are_indexed(tmp_path):
    home = tmp_path / "home"
    write_files(home, {"notes.py": NOTES, "photos/backup.py": OTHER})
    session = await start_session([], tmp_path / "cache", env={"HOME": str(home)})
    try:
        session.open(home / "notes.py")
        status = await session.wait_for(lambda s: s["state"] == "ready" and s["files"] == 1)
        assert status["roots"] == [home.as_uri()] and "only the open files are indexed" in status["message"]
        found = await session.search("copy photos to the external disk")
        assert [result["name"] for result in found["results"]] == ["summarize_meeting_notes"]
        session.open(home / "photos" / "backup.py")
        await session.wait_for(lambda s: s["state"] == "ready" and s["files"] == 2)
    finally:
        await session.stop()
