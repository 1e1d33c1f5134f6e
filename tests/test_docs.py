"""The documentation: the site builds with ``mkdocs build --strict`` (no broken link or anchor, no page left out
of the navigation), the README fits on a screen, and every relative link in README.md and docs/ resolves."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
README_MAX_LINES = 200
#: ``[text](target)`` and ``![alt](target)``; the target up to the first space or closing parenthesis.
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"^\s*(```|~~~)")
INLINE_CODE = re.compile(r"`[^`]*`")


def markdown_files() -> list[Path]:
    """README.md and every page under docs/."""
    return [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]


def relative_links(path: Path) -> list[tuple[int, str]]:
    """``(line number, target)`` of every link in ``path`` that points into the repository (code left out)."""
    found, fenced = [], False
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if fenced:
            continue
        for target in LINK.findall(INLINE_CODE.sub("", line)):
            if not re.match(r"^[a-z][a-z0-9+.-]*:", target) and not target.startswith("#"):
                found.append((number, target))
    return found


def test_readme_fits_on_a_screen() -> None:
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines; move detail into docs/"


def test_every_relative_link_resolves() -> None:
    broken = []
    for path in markdown_files():
        for number, target in relative_links(path):
            file_part = target.split("#", 1)[0]
            if not (path.parent / file_part).resolve().exists():
                broken.append(f"{path.relative_to(ROOT)}:{number}: {target}")
    assert not broken, "broken links:\n" + "\n".join(broken)


def test_the_link_checker_sees_links_and_leaves_code_alone(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("[a](a.md) and [b](sub/b.md#part), [web](https://x.example), [here](#top)\n"
                    "`[not](code.md)`\n```\n[nor](fenced.md)\n```\n![img](pic.png)\n")
    assert [target for _, target in relative_links(page)] == ["a.md", "sub/b.md#part", "pic.png"]


def test_the_site_builds_strictly_with_every_verb_in_the_cli_reference(tmp_path: Path) -> None:
    pytest.importorskip("mkdocs", reason="the docs extra is not installed: pip install -e '.[docs]' (make docs)")
    pytest.importorskip("material", reason="mkdocs-material is not installed: pip install -e '.[docs]'")
    site = tmp_path / "site"
    built = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"}, capture_output=True, text=True, timeout=300,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    assert (site / "index.html").is_file() and (site / "connect" / "index.html").is_file()

    from ops.cli import build_parser

    reference = (site / "reference" / "cli" / "index.html").read_text()
    verbs = next(a for a in build_parser([])._actions if a.__class__.__name__ == "_SubParsersAction").choices
    missing = [verb for verb in verbs if f"usage: tandem {verb}" not in reference]
    assert not missing, f"the CLI reference lacks {missing}"
    assert "usage: tandem emulate salesforce" in reference and "--org-type" in reference  # the emulators' options
    assert 'class="mermaid"' in (site / "concepts" / "index.html").read_text()  # the diagrams are rendered
