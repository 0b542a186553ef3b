"""Sources and sinks on fsspec URLs: ``memory://`` round trips, and a real S3
API (moto's server mode, on a local port) reached the way a cluster worker
reaches S3: through ``s3://`` paths and the standard AWS environment.

Each run on a URL is compared with the same run on a local folder: the
output files are the same bytes once the input folder's path is replaced by
its URL (the ``path`` of each record names where its input was read)."""

from __future__ import annotations

import gzip
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

import pytest

from ingest import ExitCode
from ingest.contract.options import build_options, is_url

SEEDS = Path(__file__).resolve().parent.parent / "samples" / "seeds"

#: The config of every run here, but for [source] and [sink] paths.
PIPELINE = """
pipeline = ["header", "boilerplate", "dedup"]

[run]
workers = 1
"""

#: Inputs beyond the seeds: each reason a file can be lost, compression in a
#: sub folder, and files the include and exclude patterns leave out.
EXTRA_INPUTS: dict[str, bytes] = {
    "2025/07/ferry.txt.gz": gzip.compress(
        b"The harbour ferry ran late on Tuesday after fog closed the channel for two hours.\n", mtime=0
    ),
    "2025/07/notes.txt": "Caf\u00e9 owners along the quay said the fog cost them the morning trade.\n".encode(),
    "empty.txt": b"",
    "image.txt": b"GIF89a\x00\x01\x00",
    "latin1.txt": "na\u00efve caf\u00e9 text in latin-1\n".encode("latin-1"),
    "drafts/skip.txt": b"excluded by the config\n",
    "page.html": b"<p>not matched by include</p>\n",
}

JSONL_INPUT = (
    b'{"id": "j1", "text": "The ferry timetable changes in May.", "topic": "transport"}\n'
    b"not json\n"
    b'{"id": "j2", "text": ""}\n'
    b'{"text": "A record with no id gets one from its file and line."}\n'
)


def input_files() -> dict[str, bytes]:
    """The five seed documents plus :data:`EXTRA_INPUTS`, by relative path."""
    files = {path.name: path.read_bytes() for path in sorted(SEEDS.iterdir()) if path.is_file()}
    assert len(files) == 5
    return {**files, **EXTRA_INPUTS}


def toml_value(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key} = {toml_value(v)}" for key, v in value.items()) + "}"
    return json.dumps(value)  # strings, numbers, booleans and lists of them are valid TOML


def write_config(folder: Path, source: dict[str, Any], sink: dict[str, Any], head: str = PIPELINE) -> Path:
    text = head
    for table, values in (("source", source), ("sink", sink)):
        text += f"\n[{table}]\n" + "".join(f"{key} = {toml_value(v)}\n" for key, v in values.items())
    config = folder / f"config-{uuid.uuid4().hex[:8]}.toml"
    config.write_text(text, encoding="utf-8")
    return config


def write_local(folder: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    return folder


TEXT_SOURCE = {"include": ["**/*.txt"], "exclude": ["drafts/*"], "fallback_encodings": ["latin-1"]}


def local_run(tmp_path: Path, ingest_cli: Any, files: dict[str, bytes], source: dict[str, Any]) -> Path:
    """Run the pipeline on a local copy of ``files``; the output folder."""
    inputs = write_local(tmp_path / "local-in", files)
    out = tmp_path / "local-out"
    config = write_config(tmp_path, {**source, "path": str(inputs)}, {"path": str(out)})
    result = ingest_cli("run", "-c", config)
    assert result.exit_code == 0, result.stderr
    return out


def assert_same_output(local_out: Path, local_in: Path, url_in: str, remote: dict[str, bytes]) -> None:
    """The files a run on URLs wrote (``remote``: name -> bytes) are those of
    the local run, byte for byte once paths of inputs are URLs; the reports
    agree on every count."""
    local_files = {path.name: path.read_bytes() for path in local_out.iterdir()}
    assert (
        sorted(remote)
        == sorted(local_files)
        == [
            "documents.jsonl",
            "dropped.jsonl",
            "report.html",
            "report.json",
        ]
    )
    for name in ("documents.jsonl", "dropped.jsonl"):
        expected = local_files[name].replace(str(local_in).encode(), url_in.encode())
        assert remote[name] == expected, name
    local_report = json.loads(local_files["report.json"])
    report = json.loads(remote["report.json"])
    for key in ("input", "kept", "dropped"):
        assert report[key] == local_report[key], key
    for stage, stats in local_report["stages"].items():
        assert report["stages"][stage]["dropped"] == stats["dropped"], stage
    assert report["input"] == report["kept"] + report["dropped"]


# -- paths -------------------------------------------------------------------


def test_urls_are_told_from_local_paths():
    for url in ("s3://bucket/in", "gs://b/x", "memory://x", "file:///tmp/x", "simplecache::s3://b/x"):
        assert is_url(url), url
    for path in ("in", "/data/in", "./s3/in", "data/a://b", "C:\\data\\in", "~/in", "c:/x"):
        assert not is_url(path), path


def test_a_url_is_not_resolved_against_the_config_folder(tmp_path):
    from ingest_plugins.text_files import TextFilesOptions

    def built(path: str) -> str:
        options = build_options(TextFilesOptions, {"path": path}, where="t", base_dir=str(tmp_path))
        return options.path

    pytest.importorskip("fsspec")
    assert built("memory://bucket/in") == "memory://bucket/in"
    assert built("in") == str(tmp_path / "in")
    # a file:// URL of a local path is that path: a local folder, with all a local folder has
    assert built(f"file://{tmp_path}/in") == str(tmp_path / "in")


# -- memory:// ---------------------------------------------------------------


@pytest.fixture
def memory_root():
    """A fresh ``memory://`` folder (the memory filesystem is shared by the
    whole process); removed afterwards."""
    fsspec = pytest.importorskip("fsspec")
    fs = fsspec.filesystem("memory")
    root = f"/ingest-test-{uuid.uuid4().hex[:12]}"
    yield fs, root
    if fs.exists(root):
        fs.rm(root, recursive=True)


def remote_files(fs: Any, folder: str) -> dict[str, bytes]:
    return {path.rpartition("/")[2]: fs.cat_file(path) for path in fs.find(folder)}


def test_memory_round_trip_of_text_files_matches_a_local_run(tmp_path, ingest_cli, memory_root):
    fs, root = memory_root
    files = input_files()
    for name, data in files.items():
        fs.pipe_file(f"{root}/in/{name}", data)
    url_in, url_out = f"memory://{root}/in", f"memory://{root}/out"
    config = write_config(tmp_path, {**TEXT_SOURCE, "path": url_in}, {"path": url_out})
    result = ingest_cli("run", "-c", config)
    assert result.exit_code == 0, result.stderr

    local_out = local_run(tmp_path, ingest_cli, files, TEXT_SOURCE)
    remote = remote_files(fs, f"{root}/out")
    assert_same_output(local_out, tmp_path / "local-in", url_in, remote)
    report = json.loads(remote["report.json"])
    assert report["outputs"]["documents"] == f"{url_out}/documents.jsonl"
    assert report["outputs"]["report"] == f"{url_out}/report.json"
    dropped = [json.loads(line) for line in remote["dropped.jsonl"].splitlines()]
    reasons = {record["id"]: record["reason"] for record in dropped if record["stage"] == "source"}
    assert reasons == {"empty.txt": "empty", "image.txt": "binary"}
    kept = {json.loads(line)["id"] for line in remote["documents.jsonl"].splitlines()}
    assert {"2025/07/ferry.txt.gz", "2025/07/notes.txt", "latin1.txt"} <= kept
    assert not any(name.startswith("drafts/") or name == "page.html" for name in kept)


def test_input_and_output_urls_on_the_command_line(tmp_path, ingest_cli, memory_root):
    fs, root = memory_root
    for name, data in input_files().items():
        fs.pipe_file(f"{root}/in/{name}", data)
    config = write_config(tmp_path, {**TEXT_SOURCE, "path": str(tmp_path / "nowhere")}, {"path": "unused"})
    url_in, url_out = f"memory://{root}/in", f"memory://{root}/out"
    result = ingest_cli("run", "-c", config, "--input", url_in, "--output", url_out)
    assert result.exit_code == 0, result.stderr
    report = json.loads(fs.cat_file(f"{root}/out/report.json"))
    assert report["outputs"]["documents"] == f"{url_out}/documents.jsonl" and report["input"] > 0


def test_memory_round_trip_of_jsonl_files_matches_a_local_run(tmp_path, ingest_cli, memory_root):
    fs, root = memory_root
    files = {
        "part/a.jsonl.gz": gzip.compress(JSONL_INPUT, mtime=0),
        "b.jsonl": JSONL_INPUT.replace(b"j", b"k"),
    }
    for name, data in files.items():
        fs.pipe_file(f"{root}/in/{name}", data)
    source = {"type": "jsonl_files"}
    url_in = f"memory://{root}/in"
    config = write_config(tmp_path, {**source, "path": url_in}, {"path": f"memory://{root}/out"})
    assert ingest_cli("run", "-c", config).exit_code == 0

    local_out = local_run(tmp_path, ingest_cli, files, source)
    remote = remote_files(fs, f"{root}/out")
    assert_same_output(local_out, tmp_path / "local-in", url_in, remote)
    dropped = [json.loads(line) for line in remote["dropped.jsonl"].splitlines()]
    assert {(r["id"], r["reason"]) for r in dropped} >= {
        ("b.jsonl:2", "invalid_json"),
        ("part/a.jsonl.gz:2", "invalid_json"),
    }


def test_a_single_file_url_is_read_like_a_local_file(tmp_path, ingest_cli, memory_root):
    fs, root = memory_root
    fs.pipe_file(f"{root}/in/one.txt", b"Only this file is read, and its id is its name.\n")
    fs.pipe_file(f"{root}/in/other.txt", b"Not this one.\n")
    config = write_config(tmp_path, {"path": f"memory://{root}/in/one.txt"}, {"path": str(tmp_path / "out")})
    assert ingest_cli("run", "-c", config).exit_code == 0
    records = [json.loads(line) for line in (tmp_path / "out" / "documents.jsonl").read_text().splitlines()]
    assert [(r["id"], r["path"]) for r in records] == [("one.txt", f"memory://{root}/in/one.txt")]


def test_a_url_that_holds_nothing_is_a_config_error(tmp_path, ingest_cli, memory_root):
    _fs, root = memory_root
    config = write_config(tmp_path, {"path": f"memory://{root}/nothing"}, {"path": str(tmp_path / "out")})
    result = ingest_cli("run", "-c", config)
    assert result.exit_code == ExitCode.USAGE_ERROR
    assert f"memory://{root}/nothing" in result.stderr and "does not exist" in result.stderr


def test_sharded_output_on_a_url_replaces_an_earlier_runs_shards(tmp_path, ingest_cli, memory_root):
    fs, root = memory_root
    for name, data in input_files().items():
        fs.pipe_file(f"{root}/in/{name}", data)
    url_out = f"memory://{root}/out"
    sink = {"path": url_out, "compression": "gzip", "shard_bytes": 2000}
    config = write_config(tmp_path, {**TEXT_SOURCE, "path": f"memory://{root}/in"}, sink)
    assert ingest_cli("run", "-c", config).exit_code == 0
    first = sorted(remote_files(fs, f"{root}/out"))
    assert "documents-00001.jsonl.gz" in first
    report = json.loads(fs.cat_file(f"{root}/out/report.json"))
    assert report["outputs"]["documents"][0] == f"{url_out}/documents-00000.jsonl.gz"

    config = write_config(tmp_path, {**TEXT_SOURCE, "path": f"memory://{root}/in"}, {"path": url_out})
    assert ingest_cli("run", "-c", config).exit_code == 0
    # the shards of the first run would read as part of the second: gone
    assert sorted(remote_files(fs, f"{root}/out")) == [
        "documents.jsonl",
        "dropped.jsonl",
        "report.html",
        "report.json",
    ]


@pytest.mark.parametrize("sink", ["csv", "parquet"])
def test_tabular_sinks_write_to_a_url(tmp_path, ingest_cli, memory_root, sink):
    if sink == "parquet":
        pytest.importorskip("pyarrow")
    fs, root = memory_root
    for name, data in input_files().items():
        fs.pipe_file(f"{root}/in/{name}", data)
    config = write_config(
        tmp_path,
        {**TEXT_SOURCE, "path": f"memory://{root}/in"},
        {"type": sink, "path": f"memory://{root}/out"},
    )
    assert ingest_cli("run", "-c", config).exit_code == 0
    assert sorted(remote_files(fs, f"{root}/out")) == [f"documents.{sink}", f"dropped.{sink}", "report.json"]
    report = json.loads(fs.cat_file(f"{root}/out/report.json"))
    assert report["outputs"]["documents"] == f"memory://{root}/out/documents.{sink}"


def test_the_sqlite_sink_refuses_a_url(tmp_path, ingest_cli, memory_root):
    _fs, root = memory_root
    config = write_config(tmp_path, {"path": str(SEEDS)}, {"type": "sqlite", "path": f"memory://{root}/db"})
    result = ingest_cli("run", "-c", config)
    assert result.exit_code == ExitCode.USAGE_ERROR
    assert "is a URL" in result.stderr and "local folder" in result.stderr


def test_a_url_output_does_not_checkpoint_and_leaves_no_staging_files(
    tmp_path, ingest_cli, memory_root, monkeypatch
):
    fs, root = memory_root
    staging = tmp_path / "tmp"
    staging.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(staging))
    config = write_config(tmp_path, {"path": str(SEEDS)}, {"path": f"memory://{root}/out"})
    # checkpoint_every is on by default: the run goes on without checkpoints (as with parquet and csv)
    assert ingest_cli("run", "-c", config).exit_code == 0
    assert not any(name.startswith(".") for name in remote_files(fs, f"{root}/out"))
    assert list(staging.iterdir()) == []


# -- the extra is missing ----------------------------------------------------


@pytest.mark.parametrize("table", ["source", "sink"])
def test_a_url_without_fsspec_names_the_option_and_the_extra(tmp_path, ingest_cli, monkeypatch, table):
    real_find_spec = importlib.util.find_spec

    def find_spec(name: str, *args: Any, **kwargs: Any) -> Any:
        return None if name.split(".")[0] == "fsspec" else real_find_spec(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    paths = {"source": str(SEEDS), "sink": str(tmp_path / "out")}
    paths[table] = "s3://bucket/data"
    config = write_config(tmp_path, {"path": paths["source"]}, {"path": paths["sink"]})
    for command in ("check", "run"):
        result = ingest_cli(command, "-c", config)
        assert result.exit_code == ExitCode.USAGE_ERROR, result.stderr
        assert f"[{table}]" in result.stderr and "path: 's3://bucket/data' is a URL" in result.stderr
        assert "pip install 'ingest[s3]'" in result.stderr
    assert not (tmp_path / "out").exists()


def test_a_gs_url_without_gcsfs_says_what_to_install(tmp_path, ingest_cli):
    pytest.importorskip("fsspec")
    if importlib.util.find_spec("gcsfs") is not None:
        pytest.skip("gcsfs is installed")
    config = write_config(tmp_path, {"path": "gs://bucket/in"}, {"path": str(tmp_path / "out")})
    result = ingest_cli("check", "-c", config)
    assert result.exit_code == ExitCode.USAGE_ERROR
    assert "pip install 'ingest[gcs]'" in result.stderr


# -- a real S3 API -------------------------------------------------------------


@pytest.fixture(scope="module")
def s3_endpoint():
    """A local S3 API (moto's server mode) on a free port, for this module."""
    pytest.importorskip("s3fs")
    server_module = pytest.importorskip("moto.server")
    server = server_module.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3(s3_endpoint, monkeypatch):
    """An empty bucket on :func:`s3_endpoint`, with the standard AWS
    environment pointing at it (dummy keys, region, ``AWS_ENDPOINT_URL``):
    what the run's s3fs and botocore read. Yields (filesystem, bucket, env)."""
    import s3fs

    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": s3_endpoint,
    }
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_CONFIG_FILE"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    fs = s3fs.S3FileSystem(
        endpoint_url=s3_endpoint, key="testing", secret="testing", skip_instance_cache=True
    )
    bucket = f"ingest-{uuid.uuid4().hex[:12]}"
    fs.mkdir(bucket)
    yield fs, bucket, env


BOOM_PLUGIN = """
from ingest import StageKind, StageSpec, hookimpl

def factory(options, ctx):
    def process(doc):
        raise RuntimeError("boom")
    return process

@hookimpl
def ingest_stages():
    return [StageSpec("boom", StageKind.FILTER, factory, None, "fails on every document", per_document=True)]
"""


def upload(fs: Any, files: dict[str, bytes], prefix: str) -> None:
    for name, data in files.items():
        fs.pipe_file(f"{prefix}/{name}", data)


def test_s3_round_trip_with_the_real_cli_matches_a_local_run(tmp_path, ingest_cli, s3):
    fs, bucket, env = s3
    files = input_files()
    upload(fs, files, f"{bucket}/in")
    url_in, url_out = f"s3://{bucket}/in", f"s3://{bucket}/out"
    config = write_config(tmp_path, {**TEXT_SOURCE, "path": url_in}, {"path": url_out})
    # The real command in its own process, configured only by the environment,
    # as a worker on a cluster would be.
    result = subprocess.run(
        [sys.executable, "-m", "ingest", "run", "-c", str(config)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr

    remote = remote_files(fs, f"{bucket}/out")
    local_out = local_run(tmp_path, ingest_cli, files, TEXT_SOURCE)
    assert_same_output(local_out, tmp_path / "local-in", url_in, remote)
    assert json.loads(remote["report.json"])["outputs"]["dropped"] == f"{url_out}/dropped.jsonl"


def test_s3_with_storage_options_in_the_config(tmp_path, ingest_cli, s3, s3_endpoint, monkeypatch):
    """``storage_options`` (an endpoint for MinIO and the like, keys) go to s3fs."""
    fs, bucket, _env = s3
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    upload(fs, {"a.txt": b"One document about the ferry and the fog over the harbour.\n"}, f"{bucket}/in")
    options = {"endpoint_url": s3_endpoint, "key": "testing", "secret": "testing"}
    config = write_config(
        tmp_path,
        {"path": f"s3://{bucket}/in", "storage_options": options},
        {"type": "jsonl", "path": f"s3://{bucket}/out", "compression": "gzip", "storage_options": options},
    )
    result = ingest_cli("run", "-c", config)
    assert result.exit_code == 0, result.stderr
    records = gzip.decompress(fs.cat_file(f"{bucket}/out/documents.jsonl.gz")).splitlines()
    assert [json.loads(line)["id"] for line in records] == ["a.txt"]


def test_a_failed_run_leaves_nothing_complete_looking_on_s3(tmp_path, ingest_cli, s3):
    fs, bucket, _env = s3
    upload(fs, input_files(), f"{bucket}/in")
    url_out = f"s3://{bucket}/out"
    config = write_config(tmp_path, {**TEXT_SOURCE, "path": f"s3://{bucket}/in"}, {"path": url_out})
    assert ingest_cli("run", "-c", config).exit_code == 0
    assert fs.exists(f"{bucket}/out/report.json")

    # Every document fails in a stage, past max_error_rate: the run fails after reading everything.
    (tmp_path / "boom.py").write_text(BOOM_PLUGIN, encoding="utf-8")
    head = '[plugins]\npaths = ["boom.py"]\n[run]\nworkers = 1\nmax_error_rate = 0.5\n[[pipeline]]\nstage = "boom"\n'
    config = write_config(tmp_path, {**TEXT_SOURCE, "path": f"s3://{bucket}/in"}, {"path": url_out}, head)
    result = ingest_cli("run", "-c", config)
    assert result.exit_code == ExitCode.RUN_FAILED, result.stderr
    left = {path.rpartition("/")[2] for path in fs.find(f"{bucket}/out")}
    # The earlier run's report went when this run started; nothing of this run was uploaded.
    assert "report.json" not in left and "report.html" not in left
    assert not any(name.startswith(".") for name in left)


def test_an_s3_output_that_cannot_be_written_fails_before_any_work(tmp_path, ingest_cli, s3):
    fs, bucket, _env = s3
    upload(fs, {"a.txt": b"A document that is never read.\n"}, f"{bucket}/in")
    config = write_config(tmp_path, {"path": f"s3://{bucket}/in"}, {"path": f"s3://{bucket}-missing/out"})
    result = ingest_cli("run", "-c", config)
    assert result.exit_code == ExitCode.USAGE_ERROR, result.stderr
    assert f"[sink] path 's3://{bucket}-missing/out' cannot be written" in result.stderr


def test_the_cloud_storage_example_in_the_docs_runs(tmp_path, ingest_cli, s3, s3_endpoint):
    fs, bucket, _env = s3
    docs = (Path(__file__).resolve().parent.parent / "docs" / "io.md").read_text(encoding="utf-8")
    section = docs.split("## Cloud storage (S3, GCS, memory)", 1)[1].split("\n## ", 1)[0]
    example = section.split("```toml\n", 1)[1].split("```", 1)[0]
    assert "endpoint_url" in example and "s3://corpus/" in example
    upload(fs, input_files(), f"{bucket}/raw/2025")
    config = tmp_path / "config.toml"
    config.write_text(
        example.replace("http://127.0.0.1:9000", s3_endpoint).replace("s3://corpus/", f"s3://{bucket}/"),
        encoding="utf-8",
    )
    result = ingest_cli("run", "-c", config)
    assert result.exit_code == 0, result.stderr
    report = json.loads(fs.cat_file(f"{bucket}/clean/2025/report.json"))
    assert report["input"] == len(input_files()) - 1  # all but page.html, which include does not match
    assert fs.exists(f"{bucket}/clean/2025/documents.jsonl.gz")
