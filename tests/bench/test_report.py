"""docs/benchmarks.md is generated from bench/results/*.json by bench.report, and the committed page is
exactly what the committed JSON gives (fast: no stack, no solver)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bench import report


def test_the_committed_page_is_what_the_json_gives(tmp_path: Path) -> None:
    out = tmp_path / "benchmarks.md"
    assert report.main(["--output", str(out)]) == 0
    assert out.read_text() == report.DOCS.read_text(), (
        "docs/benchmarks.md is stale: run `python -m bench.report` and commit it with the JSON")
    assert report.main(["--check"]) == 0


def test_every_result_file_has_its_section_and_the_machine(tmp_path: Path) -> None:
    page = report.markdown()
    for path in sorted(report.RESULTS.glob("*.json")):
        assert path.name in page or f"`bench.{path.stem.split('-')[0].split('_before')[0]}`" in page, path.name
    assert page.count("Machine: ") >= 8
    assert "[placement-space.md](placement-space.md)" in page and (report.DOCS.parent / "placement-space.md").exists()


def test_a_changed_result_makes_the_page_stale_and_an_unknown_one_is_refused(tmp_path: Path) -> None:
    results = tmp_path / "results"
    shutil.copytree(report.RESULTS, results)
    rows = json.loads((results / "qos.json").read_text())
    rows[0]["breach_p95_s"] = 99.0
    (results / "qos.json").write_text(json.dumps(rows))
    assert report.main(["--results", str(results), "--check"]) == 1
    p50 = rows[0]["breach_p50_s"]
    assert f"| fault to breach on chain | 10 of 10 | {p50:.2f} s | 99.00 s |" in report.markdown(results)
    (results / "new.json").write_text("[]")
    with pytest.raises(SystemExit, match=r"no section for new\.json"):
        report.markdown(results)
