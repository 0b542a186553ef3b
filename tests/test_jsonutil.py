"""Record lines: the same bytes with and without orjson (the ``fast`` extra),
and values orjson refuses still encode."""

from __future__ import annotations

import datetime
import enum
import json
from pathlib import Path

import pytest

from ingest.engine import jsonutil
from ingest.engine.jsonutil import record_line

REPO = Path(__file__).resolve().parent.parent


class Colour(enum.Enum):
    RED = "red"


VALUES = [
    {
        "id": "a",
        "text": "Zürich – “quoted” \t tab\nnewline \x01 control \u2028 separator",
        "n": 3,
        "ok": True,
    },
    {"metadata": {"date": datetime.date(2025, 7, 7), "when": datetime.datetime(2025, 7, 7, 4, 3, 2, 1)}},
    {"aware": datetime.datetime(2025, 7, 7, 4, 3, tzinfo=datetime.timezone.utc), "t": datetime.time(4, 3)},
    {"similarity": 0.8732, "containment": 1.0, "zero": 0.0, "neg": -2.5, "none": None},
    {"colour": Colour.RED, "path": Path("a/b.txt"), "tags": {"b", "a"}, "raw": b"bytes"},
    {"nested": [[1, 2], {"k": ["v", {"deeper": []}]}], "empty": {}},
    {"big": 2**70},  # beyond 64 bits: only the standard library encodes it
    {"keys": {1: "int key", None: "null key"}},  # non-string keys: likewise
]


@pytest.mark.parametrize("value", VALUES)
def test_record_line_is_compact_json_with_a_newline(value, monkeypatch):
    fast = record_line(value)
    monkeypatch.setattr(jsonutil, "_orjson", None)
    slow = record_line(value)
    assert fast == slow
    assert slow.endswith(b"\n") and slow.count(b"\n") == 1
    assert json.loads(slow) == json.loads(jsonutil.dumps(value))


def test_a_float_subclass_falls_back_to_the_standard_library():
    class Score(float):
        pass

    assert record_line({"score": Score(0.5)}) == b'{"score":0.5}\n'


def test_an_unencodable_value_names_its_type():
    with pytest.raises(TypeError, match="object"):
        record_line({"x": object()})


def test_seed_run_writes_the_same_bytes_without_orjson(tmp_path, ingest_cli, monkeypatch):
    pytest.importorskip("orjson")
    outputs = {}
    for name in ("fast", "stdlib"):
        if name == "stdlib":
            monkeypatch.setattr(jsonutil, "_orjson", None)
        out = tmp_path / name
        # the sample pipeline: history with removed lines, a duplicate with its similarity
        config = tmp_path / f"{name}.toml"
        config.write_text(
            (REPO / "config.toml")
            .read_text(encoding="utf-8")
            .replace('"samples/seeds"', json.dumps(str(REPO / "samples" / "seeds")))
            .replace('path = "out"', f"path = {json.dumps(str(out))}")
        )
        result = ingest_cli("run", "-c", str(config))
        assert result.exit_code == 0, result.stderr
        outputs[name] = [(out / f).read_bytes() for f in ("documents.jsonl", "dropped.jsonl")]
    assert outputs["fast"] == outputs["stdlib"]
    documents, dropped = outputs["fast"]
    assert documents.count(b"\n") == 4 and dropped.count(b"\n") == 1
    assert b'"removed_lines"' in documents and b'"similarity":0.' in dropped
