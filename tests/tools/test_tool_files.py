"""read_file / write_file: path refusals, symlinks, quota, atomic writes."""

from __future__ import annotations

import os

import pytest

from agentd.shared.config import ToolsConfig
from agentd.protocol.errors import ToolError, ToolRefused
from agentd.tools.files import ReadFile, ReadFileParams, WriteFile, WriteFileParams, artifacts_path, write_artifact
from tool_helpers import run

pytestmark = pytest.mark.timeout(20)


def write(ctx, path, content="hi", append=False):
    return run(WriteFile().run, WriteFileParams(path, content, append), ctx)


def read(ctx, path, **kw):
    return run(ReadFile().run, ReadFileParams(path, **kw), ctx)


@pytest.mark.parametrize("path", [
    "../x", "a/../../x", "a/..", "..", "/etc/passwd", "//etc/passwd", "~/x", "a\x00b", "a\\..\\x",
    "..\\x", "", "   ", ".", "./", "a/\n/b",
])
def test_bad_paths_refused(make_ctx, path):
    ctx = make_ctx()
    with pytest.raises(ToolRefused):
        write(ctx, path)
    with pytest.raises(ToolRefused):
        read(ctx, path)


def test_symlink_in_middle_refused(make_ctx, tmp_path):
    ctx = make_ctx()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    os.symlink(outside, ctx.artifacts / "link")
    with pytest.raises(ToolRefused, match="symbolic link"):
        read(ctx, "link/secret.txt")
    with pytest.raises(ToolRefused, match="symbolic link"):
        write(ctx, "link/new.txt")
    assert not (outside / "new.txt").exists()


def test_symlink_at_end_refused(make_ctx, tmp_path):
    ctx = make_ctx()
    target = tmp_path / "target.txt"
    target.write_text("secret")
    os.symlink(target, ctx.artifacts / "leaf.txt")
    with pytest.raises(ToolRefused, match="symbolic link"):
        read(ctx, "leaf.txt")
    with pytest.raises(ToolRefused, match="symbolic link"):
        write(ctx, "leaf.txt", "overwrite")
    assert target.read_text() == "secret"


def test_dangling_symlink_refused(make_ctx, tmp_path):
    ctx = make_ctx()
    os.symlink(tmp_path / "nowhere", ctx.artifacts / "dangling")
    with pytest.raises(ToolRefused):
        write(ctx, "dangling", "x")
    assert not (tmp_path / "nowhere").exists()


def test_directory_as_file_refused(make_ctx):
    ctx = make_ctx()
    (ctx.artifacts / "dir").mkdir()
    with pytest.raises(ToolRefused, match="directory"):
        write(ctx, "dir")
    with pytest.raises(ToolRefused, match="directory"):
        read(ctx, "dir")
    write(ctx, "file.txt")
    with pytest.raises(ToolRefused, match="not a directory"):
        write(ctx, "file.txt/inner.txt")


def test_quota(make_ctx):
    ctx = make_ctx(tools=ToolsConfig(file_quota_bytes=100))
    write(ctx, "a.txt", "x" * 60)
    with pytest.raises(ToolRefused, match="quota"):
        write(ctx, "b.txt", "y" * 50)
    write(ctx, "a.txt", "z" * 90)  # replacing counts the new size only
    with pytest.raises(ToolRefused, match="quota"):
        write(ctx, "a.txt", "w" * 20, append=True)
    assert not (ctx.artifacts / "b.txt").exists()


def test_write_read_roundtrip_creates_parents(make_ctx):
    ctx = make_ctx()
    assert "Wrote reports/2024/w1.md" in write(ctx, "reports/2024/w1.md", "# Week 1\nnews ✓")
    write(ctx, "reports/2024/w1.md", "\nmore", append=True)
    assert read(ctx, "reports/2024/w1.md") == "# Week 1\nnews ✓\nmore"
    assert [p.name for p in (ctx.artifacts / "reports/2024").iterdir()] == ["w1.md"]  # no temp files left


def test_read_offset_and_limit(make_ctx):
    ctx = make_ctx()
    write(ctx, "long.txt", "abcdefghij")
    out = read(ctx, "long.txt", offset=2, max_chars=3)
    assert out.startswith("cde") and "offset=5" in out


def test_read_missing_and_binary(make_ctx):
    ctx = make_ctx()
    with pytest.raises(ToolError, match="no such"):
        read(ctx, "missing.txt")
    (ctx.artifacts / "bin").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ToolError, match="UTF-8"):
        read(ctx, "bin")


def test_read_missing_names_the_files_that_are_there(make_ctx):
    """Models invent folders ("files/numbers.txt"): the error lists what exists,
    top level first, without agentd's own runs/ folder."""
    ctx = make_ctx()
    with pytest.raises(ToolError, match="this goal's folder has no files yet"):
        read(ctx, "files/numbers.txt")
    write(ctx, "numbers.txt", "1\n2\n")
    write(ctx, "notes/a.md", "a")
    write(ctx, "runs/r1/summary.md", "done")
    with pytest.raises(ToolError) as err:
        read(ctx, "files/numbers.txt")
    assert str(err.value.message) == ("files/numbers.txt: no such file or directory; the files in this goal's "
                                      "folder are: numbers.txt, notes/a.md"), err.value.message
    with pytest.raises(ToolError, match="number.txt: no such file; the files .* numbers.txt"):
        read(ctx, "number.txt")


def test_runtime_helpers(tmp_path):
    root = tmp_path / "art"
    assert write_artifact(root, "runs/r1/summary.md", "done") == 4
    p = artifacts_path(root, "runs/r1/obs.txt")
    assert p == root / "runs" / "r1" / "obs.txt" and p.parent.is_dir()
    with pytest.raises(ToolRefused):
        artifacts_path(root, "../escape")
