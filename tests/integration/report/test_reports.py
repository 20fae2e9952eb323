"""report.md and report.html from real runs: the tables show run.json's numbers as stored, a
study gets a row per step, the same results give the same bytes, and the Chinese report has no
English words left where the catalog has a translation."""

from __future__ import annotations

import re
from pathlib import Path

from llmbench.report.files import write_report
from llmbench.report.messages import CATALOG, Messages
from llmbench.report.source import load_source
from llmbench.report.tables import num
from llmbench.store.results import read_run_file
from support.cli import llmbench

from .conftest import StoredResults

EN = Messages("en")


def _table(text: str, title: str) -> list[list[str]]:
    """The body rows of the Markdown table under the heading `title`."""
    lines = text.splitlines()
    start = next(k for k, line in enumerate(lines) if line.lstrip("#").strip() == title)
    rows, seen_header = [], 0
    for line in lines[start + 1 :]:
        if not line.startswith("|"):
            if seen_header:
                break
            continue
        seen_header += 1
        if seen_header > 2:  # the header row and the |---| row
            rows.append([cell.strip() for cell in line.strip("|").split(" | ")])
    return rows


def test_report_md_shows_run_json_numbers(stored: StoredResults, tmp_path: Path) -> None:
    out = tmp_path / "report.md"
    done = llmbench("report", str(stored.run), "--format", "md", "--output", str(out))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(out)
    text = out.read_text()
    run = read_run_file(stored.run / "run.json")
    s, monitors, decomposition = run.summary, run.monitors, run.decomposition
    assert s is not None
    assert monitors is not None
    assert decomposition is not None
    # the simulator's truth: TTFT 30 ms, so the mean is 30 ms plus loopback overhead
    assert s.ttft_ms.mean is not None
    assert 30 <= s.ttft_ms.mean < 60
    assert _table(text, EN("table.main")) == [
        [
            "sim",
            str(s.e2e_ms.n),
            num(s.ttft_ms.mean),
            num(s.e2e_ms.mean),
            num(s.output_tokens_per_s),
            num(s.request_output_tokens_per_s.mean),
        ]
    ]
    e2e = s.e2e_ms
    assert _table(text, EN("table.spread"))[1] == [
        "sim",
        EN("metric.e2e"),
        str(e2e.n),
        num(e2e.mean),
        num(e2e.p95),
        f"[{num(e2e.p5)}, {num(e2e.p95)}]",
        f"[{num(e2e.min)}, {num(e2e.max)}]",
    ]
    [row] = _table(text, EN("table.concurrency"))
    cpu, rss = monitors.client["cpu_percent"], monitors.client["rss_bytes"]
    assert row[:4] == ["sim", "4", num(s.requests_per_s), num(s.output_tokens_per_s)]
    assert row[6:8] == [f"{num(cpu.mean)} / {num(cpu.max)}", num(rss.mean / 2**20)]
    parts = {r[1]: r[2:4] for r in _table(text, EN("table.decomposition"))}
    for name, stats in decomposition.parts.items():
        assert parts[EN(f"part.{name}")] == [num(stats.mean_ms), num(stats.p95_ms)]


def test_study_report_has_a_row_per_step(stored: StoredResults, tmp_path: Path) -> None:
    out = tmp_path / "report.md"
    write_report(load_source(stored.sweep), "md", "en", out)
    rows = _table(out.read_text(), EN("table.concurrency"))
    assert [row[1] for row in rows] == ["1", "2"]
    for row, step in zip(rows, ("01-c1", "02-c2"), strict=True):
        summary = read_run_file(stored.sweep / step / "run.json").summary
        assert summary is not None
        assert row[2:6] == [
            num(summary.requests_per_s),
            num(summary.output_tokens_per_s),
            num(summary.ttft_ms.mean),
            num(summary.e2e_ms.mean),
        ]
    html = tmp_path / "report.html"
    write_report(load_source(stored.sweep), "html", "en", html)
    page = html.read_text()
    for chart in ("vs_concurrency", "throughput", "cdf_ttft", "decomposition"):
        assert f'id="chart-{chart}"' in page


def test_comparison_study_report_compares_the_targets(
    stored: StoredResults, tmp_path: Path
) -> None:
    out = tmp_path / "report.md"
    write_report(load_source(stored.study), "md", "en", out)
    text = out.read_text()
    assert [row[0] for row in _table(text, EN("table.main"))] == ["self-hosted", "cloud"]
    rows = {row[1]: row for row in _table(text, EN("table.comparison"))}
    ttft = rows["TTFT (ms)"]
    assert ttft[0] == "cloud / self-hosted"
    # the presets: the warm cloud answers its first token sooner than the cold self-hosted one
    assert ttft[-1] == EN("verdict.faster")
    assert "- cloud's median TTFT is 0." in text
    # why: the longer prompt's measured first-token wait, from each input-length run
    waits = re.findall(r"from 32 to 512 input tokens, the mean first-token wait went "
                       r"([\d.,]+) → ([\d.,]+) ms", text)  # fmt: skip
    assert len(waits) == 2
    assert all(float(b.replace(",", "")) > float(a.replace(",", "")) for a, b in waits)
    zh = write_report(load_source(stored.study), "md", "zh", tmp_path / "zh.md").paths[0]
    assert "cloud 的中位数首词延迟 TTFT是 self-hosted 的 0." in zh.read_text()


def test_tasks_table_counts_censored_tasks(stored: StoredResults, tmp_path: Path) -> None:
    out = tmp_path / "report.md"
    write_report(load_source(stored.agent), "md", "en", out)
    [row] = _table(out.read_text(), EN("table.tasks"))
    # three tasks: two done in 0.12 s each, over 0.17 s from first submission to last end;
    # one timed out (censored: counted, not in the completion time); no P95 of 2 values
    assert row[3:9] == ["3", "2", "1", num(2 / 0.17, 3), "0.120", "–"]


def test_rebuilt_reports_are_identical(stored: StoredResults, tmp_path: Path) -> None:
    source = load_source(stored.agent)
    for fmt, name in (("md", "r.md"), ("html", "r.html"), ("png", "png")):
        first = write_report(source, fmt, "zh", tmp_path / "a" / name).paths  # type: ignore[arg-type]
        again = write_report(load_source(stored.agent), fmt, "zh", tmp_path / "b" / name).paths  # type: ignore[arg-type]
        assert first, fmt
        for a, b in zip(first, again, strict=True):
            assert a.read_bytes() == b.read_bytes(), a


def _english_fragments() -> set[str]:
    """The English words of every catalog entry that Chinese words differently, less names and
    acronyms the Chinese texts keep (llmbench, TTFT)."""
    chinese = " ".join(zh for _, zh in CATALOG.values())
    fragments = set()
    for en, zh in CATALOG.values():
        if en == zh:
            continue
        for part in re.split(r"\{\w+\}", en):
            part = part.strip(" ,.:;()")
            if len(part) >= 4 and re.search(r"[A-Za-z]{3}", part) and part not in chinese:
                fragments.add(part)
    return fragments


def _visible(html: str) -> str:
    """The page without plotly.js (its own source) and without tags; chart JSON stays."""
    html = re.sub(r"<script>.*?</script>", "", html, count=1, flags=re.S)
    return re.sub(r"<[^>]+>", " ", html)


def test_chinese_report_has_no_english_ui_words(stored: StoredResults, tmp_path: Path) -> None:
    texts = []
    for k, directory in enumerate((stored.agent, stored.study)):
        source = load_source(directory)
        texts.append(write_report(source, "md", "zh", tmp_path / f"{k}.md").paths[0].read_text())
        page = write_report(source, "html", "zh", tmp_path / f"{k}.html").paths[0].read_text()
        texts.append(_visible(page))
    md, page = texts[0], texts[1]
    for text in texts:
        left = [
            f
            for f in _english_fragments()
            if re.search(r"(?<![A-Za-z])" + re.escape(f) + r"(?![A-Za-z])", text)
        ]
        assert left == []
    assert "响应延迟实测结果" in md
    assert "首词延迟累积分布" in page


def test_report_of_a_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    done = llmbench("report", str(tmp_path / "nothing"), "--format", "html")
    assert done.returncode != 0
    assert "llmbench: error:" in done.stderr
    assert "Traceback" not in done.stderr


def test_terminal_report_of_a_study_in_chinese(stored: StoredResults) -> None:
    done = llmbench("report", str(stored.study), "--lang", "zh")
    assert done.returncode == 0, done.stderr
    for title in ("table.main", "table.spread", "table.comparison", "why.title"):
        assert Messages("zh")(title) in done.stdout


def test_output_without_a_file_format_is_a_usage_error(stored: StoredResults) -> None:
    done = llmbench("report", str(stored.run), "--output", "x.md")
    assert done.returncode == 2
    assert "--output" in done.stderr
    assert "--format md" in done.stderr
