"""The report's message catalog: both languages have every key, with the same fields, and
every key the report's code and template ask for exists."""

from __future__ import annotations

import re
from pathlib import Path

import llmbench.report
from llmbench.monitor.decomposition import ADDITIVE, BASIS, Decomposition
from llmbench.monitor.task_parts import TASK_BASIS
from llmbench.report.messages import CATALOG, LANGS, Messages

REPORT_DIR = Path(llmbench.report.__file__).parent
REPORTING = REPORT_DIR.parent / "cli" / "reporting.py"
FIELD = re.compile(r"\{(\w+)\}")


def test_every_key_has_both_languages_with_the_same_fields() -> None:
    for key, texts in CATALOG.items():
        assert len(texts) == len(LANGS), key
        en, zh = texts
        assert en.strip(), key
        assert zh.strip(), key
        assert set(FIELD.findall(en)) == set(FIELD.findall(zh)), key


def test_chinese_is_chinese_where_english_has_words() -> None:
    """A zh text equal to an English sentence is a missing translation (acronyms and units
    such as "P95 (ms)" or "CPU" are the same in both)."""
    for key, (en, zh) in CATALOG.items():
        if len(re.findall(r"[a-z]{4,}", en)) >= 2:
            assert re.search(r"[\u4e00-\u9fff]", zh), f"{key}: {zh!r}"


# Keys made at run time from a stored value: f"part.{name}", f"verdict.{...}", ...
DYNAMIC = ("part.", "basis.", "verdict.", "cmetric.", "protocol.", "state.", "cmp.stat_", "mode.")


def _report_code() -> str:
    paths = [*REPORT_DIR.glob("*.py"), *REPORT_DIR.glob("templates/*"), REPORTING]
    return "".join(p.read_text() for p in paths if p.name != "messages.py")


def test_every_key_the_report_uses_exists() -> None:
    used = set(re.findall(r"""\bm\(\s*["']([a-z_0-9.]+)["']""", _report_code()))
    assert used, "no message keys found: the pattern no longer matches the code"
    assert used - CATALOG.keys() == set()


def test_every_key_is_used() -> None:
    code = _report_code()
    quoted = set(re.findall(r"""["']([a-z_0-9.]+)["']""", code))
    unused = [k for k in CATALOG if not k.startswith(DYNAMIC) and k not in quoted]
    assert unused == []


def test_every_decomposition_part_has_a_name_and_basis() -> None:
    parts = (
        "client_send_lag",
        "ttfb",
        "first_token_wait",
        "decode",
        "after_headers",
        "queue_wait",
        "prefill",
        *(p for split in ADDITIVE.values() for p in split),
    )
    assert "parts" in Decomposition.model_fields
    for part in parts:
        assert f"part.{part}" in CATALOG
        assert f"basis.{part}" in CATALOG or f"basis.{part}_exact" in CATALOG


def test_the_catalog_words_each_basis_as_the_decomposition_stores_it() -> None:
    for key, note in BASIS.items():
        assert CATALOG[f"basis.{key}"][0] == note
    for key, note in TASK_BASIS.items():
        assert f"part.task_{key}" in CATALOG
        assert CATALOG[f"basis.task_{key}"][0] == note


def test_stored_notes_are_translated_only_when_worded_as_the_catalog() -> None:
    zh = Messages("zh")
    assert zh.stored("basis.decode", "measured: first → last token") == CATALOG["basis.decode"][1]
    assert zh.stored("basis.decode", "measured differently") == "measured differently"
    assert Messages("en").stored("basis.decode", "x") == "x"
