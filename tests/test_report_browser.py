"""report.html in a real browser: headless Chromium loads the page of a real
run; the DOM must show the run's numbers and the page's script must have run
to its end without an error.

Needs Debian's ``chromium`` (``.ci/run`` installs it). Without it the test is
skipped, except in CI (``CI=true``), where a missing browser is a failure.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from test_report_html import build_run, parse

from ingest.report.report_html import write_html_report

pytestmark = pytest.mark.slow

BROWSERS = ("chromium", "chromium-browser")
# No network, no first-run chores, a throwaway profile: the page must stand alone.
FLAGS = (
    "--headless",
    "--no-sandbox",  # CI runs as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)


@pytest.fixture
def chromium() -> str:
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    if os.environ.get("CI") == "true":
        pytest.fail("chromium is not installed; .ci/run should have installed it (apt-get install chromium)")
    pytest.skip("chromium is not installed (apt-get install chromium); this test runs in CI")


def run_browser(browser: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [browser, *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_report_page_renders_in_chromium(
    tmp_path: Path, seeds_dir: Path, ingest_cli: Any, chromium: str
) -> None:
    out = build_run(tmp_path / "run", seeds_dir, ingest_cli)
    page = write_html_report(out)
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))

    done = run_browser(
        chromium, tmp_path / "profile", "--enable-logging=stderr", "--v=0", "--dump-dom", page.as_uri()
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Uncaught" not in done.stderr, done.stderr[-3000:]
    dom = parse(done.stdout)
    body = next(attrs for tag, attrs in dom.tags if tag == "body")
    assert body.get("data-ready") == "1", (body, done.stderr[-3000:])
    assert "data-errors" not in body, body["data-errors"]
    assert dom.text_by_id["total-input"] == str(report["input"])
    assert dom.text_by_id["total-kept"] == str(report["kept"])
    assert dom.text_by_id["total-dropped"] == str(report["dropped"])
    assert dom.text_by_id["cluster-count"] == "4"
    # The markup in the documents stayed text in the browser too.
    assert not [tag for tag, _ in dom.tags if tag in ("img", "textarea")]
    assert [tag for tag, _ in dom.tags].count("script") == 1

    shot = tmp_path / "report.png"
    done = run_browser(
        chromium, tmp_path / "profile", "--window-size=1280,2400", f"--screenshot={shot}", page.as_uri()
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
