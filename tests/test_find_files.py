"""Finding input files: one directory walk matched against glob patterns
must find exactly what :meth:`Path.glob` finds."""

from __future__ import annotations

import fnmatch
import os
from pathlib import Path

import pytest
from ingest_plugins import io_util

NAMES = [
    "a.txt",
    "b.md",
    ".hidden.txt",
    "a1.txt",
    "ab.txt",
    "[x].txt",
    "c.txt.gz",
    "d.md.bz2",
    "e.txt.zst",
    "sub/a.txt",
    "sub/b.txt.xz",
    "sub/.dot/c.txt",
    "sub/deeper/d.txt",
    "sub/deeper/e.md",
    "other/x.txt",
    "other/y.TXT",
    "space dir/z z.txt",
    "ünï/ö.txt",
    # beside the folder "sub": "-" and "." sort before "/", "0" after it
    "sub-x.txt",
    "sub.txt",
    "sub0.txt",
]
PATTERNS = [
    "**/*.txt",
    "*.txt",
    "sub/*.txt",
    "**/a?.txt",
    "[ab]*.txt",
    "**/*",
    "sub/**/*.md",
    "*.txt.gz",
    "**/[!a]*.txt",
    "**",
    "sub/**",
    "other/*.TXT",
    "**/deeper/*",
    "space dir/*.txt",
    "*.md*",
]


def reference(root: Path, include: list[str], exclude: list[str], compressed: bool) -> list[tuple[Path, str]]:
    """What Path.glob finds (the behaviour the walk replaces)."""
    found: dict[Path, str] = {}
    for pattern in include:
        last = pattern.rstrip("/").rpartition("/")[2]
        for path in root.glob(pattern):
            if path.is_file():
                found[path] = path.relative_to(root).as_posix()
        if not compressed or io_util.compression_of(pattern) or last == "**" or not last:
            continue
        for path in root.glob(pattern + "*"):
            if (
                path not in found
                and io_util.compression_of(path.name)
                and fnmatch.fnmatchcase(io_util.strip_compression(path.name), last)
                and path.is_file()
            ):
                found[path] = path.relative_to(root).as_posix()
    return sorted(
        ((p, r) for p, r in found.items() if not io_util._matches(r, exclude, compressed)), key=lambda x: x[1]
    )


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tree")
    for name in NAMES:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(name)
    (root / "empty-dir").mkdir()
    if hasattr(os, "symlink"):
        (root / "link-to-sub").symlink_to(root / "sub", target_is_directory=True)
        (root / "loop").symlink_to(root, target_is_directory=True)  # must not walk forever
        (root / "broken.txt").symlink_to(root / "missing.txt")
    return root


@pytest.mark.parametrize("pattern", PATTERNS)
@pytest.mark.parametrize("compressed", [True, False])
def test_each_pattern_finds_what_path_glob_finds(tree: Path, pattern: str, compressed: bool) -> None:
    found = io_util.find_files(tree, [pattern], compressed=compressed)
    try:
        expected = reference(tree, [pattern], [], compressed)
    except ValueError:  # Path.glob refused PATTERN + "*" ("*.md**"); the walk has no such limit
        expected = reference(tree, [pattern], [], False)
        expected += [(tree / n, n) for n in NAMES if "/" not in n and n.endswith((".md.bz2",))]
        expected = sorted(set(expected), key=lambda item: item[1])
    assert found == expected


def test_several_patterns_and_excludes(tree: Path) -> None:
    include, exclude = ["**/*.txt", "*.md"], ["sub/deeper/*", "*.md"]
    found = io_util.find_files(tree, include, exclude)
    assert [rel for _, rel in found] == [rel for _, rel in reference(tree, include, exclude, True)]
    assert "sub/deeper/d.txt" not in [rel for _, rel in found]
    assert all(path == tree / rel for path, rel in found)


def test_relative_paths_only_and_a_single_file(tree: Path) -> None:
    rels = io_util.find_relative(tree, ["**/*.txt"])
    assert rels == sorted(rels) and "sub/a.txt" in rels and "sub/.dot/c.txt" in rels
    assert "broken.txt" not in rels  # a dangling link is not a file
    assert not any(
        rel.startswith(("link-to-sub/", "loop/")) for rel in rels
    )  # like "**": links to folders not followed
    assert io_util.find_relative(tree / "a.txt", ["*.md"]) == ["a.txt"]


def test_the_walk_gives_the_files_in_sorted_order_as_it_finds_them(tree: Path, monkeypatch) -> None:
    listed: list[str] = []
    scandir = os.scandir

    def counting(path):
        listed.append(os.fspath(path))
        return scandir(path)

    monkeypatch.setattr(io_util.os, "scandir", counting)
    walk = io_util.FolderWalk(tree, ["**/*.txt"])
    found = iter(walk)
    assert next(found) == ".hidden.txt"
    assert len(listed) == 1  # the first file comes from the first folder: nothing else was listed yet
    files = [".hidden.txt", *found]
    assert files == sorted(files) == io_util.scan(tree, ["**/*.txt"]).files
    assert (
        files.index("sub-x.txt") < files.index("sub.txt") < files.index("sub/a.txt") < files.index("sub0.txt")
    )
    assert [s.relative for s in walk.scan([]).skipped] == ["broken.txt", "link-to-sub/", "loop/"]


def test_a_sharded_plan_cuts_the_walk_in_order_with_what_it_could_not_read_first(
    tree: Path, tmp_path: Path
) -> None:
    """The plan is a generator (a run writes its parts to disk as they come): what the
    walk could not read comes with the first part, which the generator returns
    completed at its end; the list and the plan written to disk both have it."""
    from ingest_plugins.text_files import TextFilesOptions, TextFilesSource

    from ingest.engine.shards import PlannedParts, plan_digest, planned_list

    source = TextFilesSource(TextFilesOptions(path=str(tree), include=["**/*.txt"]), ctx=None)  # type: ignore[arg-type]
    parts = planned_list(source.plan(3))
    expected = io_util.scan(tree, ["**/*.txt"])
    assert [name for part in parts for name in part.files] == expected.files
    cut = [min(3, len(expected.files) - k) for k in range(0, len(expected.files), 3)]  # parts of 3
    assert len(cut) > 2  # the last two's files cut anew:
    assert [len(part.files) for part in parts] == cut[:-2] + io_util.tail_sizes(sum(cut[-2:]))
    assert parts[0].skipped == tuple(expected.skipped) and expected.skipped
    assert all(not part.skipped for part in parts[1:])
    written = PlannedParts.write(tmp_path / "plan.pickle", source.plan(3))
    assert list(written) == parts and written[0].skipped == parts[0].skipped
    assert written.digest == plan_digest(parts)
    assert planned_list(source.plan(100))[0].files == expected.files


@pytest.mark.parametrize(
    ("files", "per_shard", "sizes"),
    [
        (5, 4, [3, 1, 1]),
        (8, 4, [4, 2, 1, 1]),
        (9, 4, [4, 3, 1, 1]),
        (3, 4, [3]),
        (2001, 2000, [1001, 500, 250, 250]),
        (21, 4, [4, 4, 4, 4, 3, 1, 1]),
    ],
)
def test_the_last_two_parts_of_a_plan_are_cut_into_smaller_ones(
    tmp_path: Path, files: int, per_shard: int, sizes: list[int]
) -> None:
    """A phase ends with its last shard: 11 equal shards on 2 workers left one idle
    through the eleventh. The last two parts' files make parts that get smaller (half
    of what is left, three times, then the rest); the order of the files stays the walk's."""
    from ingest_plugins.text_files import TextFilesOptions, TextFilesSource

    from ingest.engine.shards import planned_list

    for k in range(files):
        (tmp_path / f"{k:05d}.txt").write_text("text", encoding="utf-8")
    source = TextFilesSource(TextFilesOptions(path=str(tmp_path)), ctx=None)  # type: ignore[arg-type]
    parts = planned_list(source.plan(per_shard))
    assert [len(part.files) for part in parts] == sizes
    assert [name for part in parts for name in part.files] == [f"{k:05d}.txt" for k in range(files)]
