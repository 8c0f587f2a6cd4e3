"""Which declared outputs count as written: a non-empty regular file inside the
goal's artifacts directory, nothing else."""

from __future__ import annotations

from agentd.agent.expected import misplaced, missing_outputs, missing_reason


def test_only_non_empty_files_inside_the_artifacts_count(tmp_path):
    art = tmp_path / "art"
    (art / "sub").mkdir(parents=True)
    (art / "ok.md").write_text("x")
    (art / "sub" / "deep.txt").write_text("y")
    (art / "empty.md").write_text("")
    (art / "dir.md").mkdir()
    outside = tmp_path / "outside.md"
    outside.write_text("z")
    (art / "link.md").symlink_to(outside)  # a symlink out of the directory
    (art / "loop.md").symlink_to(art / "loop.md")
    expect = ["ok.md", "sub/deep.txt", "empty.md", "dir.md", "link.md", "loop.md", "none.md", "../outside.md"]
    assert missing_outputs(art, expect) == ["empty.md", "dir.md", "link.md", "loop.md", "none.md", "../outside.md"]


def test_reasons_name_every_missing_output():
    assert missing_reason(["a.md"]) == "expected output a.md was not written (missing or empty)"
    assert missing_reason(["a.md", "b/c.txt"]) == "expected outputs a.md, b/c.txt were not written (missing or empty)"


def test_a_file_written_under_another_folder_is_found_by_name(tmp_path):
    art = tmp_path / "art"
    (art / "artifacts").mkdir(parents=True)
    (art / "artifacts" / "local.md").write_text("x")
    (art / "runs" / "r1").mkdir(parents=True)
    (art / "runs" / "r1" / "summary.md").write_text("s")
    (art / "notes.md").write_text("n")
    assert misplaced(art, ["local.md", "summary.txt", "notes.md"]) == {"local.md": "artifacts/local.md"}
    assert misplaced(art, ["sub/local.md"]) == {"sub/local.md": "artifacts/local.md"}
    assert misplaced(tmp_path / "none", ["local.md"]) == {}  # never raises
