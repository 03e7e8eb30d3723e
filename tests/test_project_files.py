"""The two spaCy projects and the docs, read as files: the pipeline project stays small and calls the package's CLI,
the benchmarks project calls only `python -m benchmarks` / `python -m spacy_xproj`, the generated command tables are
current, the docs hold no issue numbers and their links resolve."""
import re
import shutil
from pathlib import Path

import pytest
from weasel.cli.document import project_document
from weasel.util import load_project_config

ROOT = Path(__file__).resolve().parents[1]
PROJECTS = [ROOT, ROOT / "benchmarks"]
DOCS = sorted((ROOT / "docs").rglob("*.md")) + [ROOT / "README.md", ROOT / "benchmarks" / "README.md"]
GENERATED = re.compile(r"<!-- WEASEL: AUTO-GENERATED DOCS START.*?<!-- WEASEL: AUTO-GENERATED DOCS END[^>]*-->", re.S)


def scripts(project_dir: Path):
    for command in load_project_config(project_dir)["commands"]:
        for line in command["script"]:
            yield command["name"], " ".join(line.split())


def test_pipeline_project_is_at_most_250_lines():
    assert len((ROOT / "project.yml").read_text(encoding="utf-8").splitlines()) <= 250


@pytest.mark.parametrize("project_dir", PROJECTS, ids=["pipeline", "benchmarks"])
def test_no_command_runs_spacy_train_itself(project_dir):
    """Training goes through `python -m spacy_xproj train-ner` (encoder shape, epochs, training time), never a
    hand-written `spacy train` block."""
    for name, line in scripts(project_dir):
        assert not re.search(r"\bspacy train\b", line), f"{name}: {line}"


@pytest.mark.parametrize("project_dir", PROJECTS, ids=["pipeline", "benchmarks"])
def test_every_workflow_step_is_a_command_and_every_var_is_used(project_dir):
    text = (project_dir / "project.yml").read_text(encoding="utf-8")
    config = load_project_config(project_dir)
    names = {command["name"] for command in config["commands"]}
    for workflow, steps in config.get("workflows", {}).items():
        assert set(steps) <= names, f"{workflow}: {sorted(set(steps) - names)}"
    unused = [name for name in config["vars"] if "${vars." + name + "}" not in text]
    assert not unused, f"vars defined but never used: {unused}"


def test_pipeline_commands_call_the_package_cli():
    for name, line in scripts(ROOT):
        assert line.startswith(("python -m spacy_xproj ", "python -m spacy package ")), f"{name}: {line}"


def test_benchmark_commands_call_only_the_benchmarks_and_the_package():
    lines = list(scripts(ROOT / "benchmarks"))
    assert lines
    for name, line in lines:
        assert line.startswith(("python -m benchmarks ", "python -m spacy_xproj ")), f"{name}: {line}"


def test_benchmark_commands_write_their_tables_into_existing_results_pages():
    text = (ROOT / "benchmarks" / "project.yml").read_text(encoding="utf-8")
    pages = set(re.findall(r"--(?:docs|table|summary) \$\{vars\.root\}/(\S+)", text))
    assert "docs/results/alignment.md" in pages and "README.md" in pages
    for page in pages:
        assert (ROOT / page).is_file(), page


@pytest.mark.parametrize("project_dir, page", [(ROOT, ROOT / "docs" / "project.md"), (ROOT / "benchmarks", ROOT / "benchmarks" / "README.md")],
                         ids=["docs/project.md", "benchmarks/README.md"])
def test_command_tables_are_generated_by_spacy_project_document(project_dir, page, tmp_path):
    """Re-run `spacy project document --output PAGE` on a copy: nothing may change (edit project.yml, then re-run it)."""
    copy = tmp_path / page.name
    shutil.copy(page, copy)
    project_document(project_dir, copy)
    assert copy.read_text(encoding="utf-8") == page.read_text(encoding="utf-8"), f"run: python -m spacy project document {project_dir.relative_to(ROOT) or '.'} --output {page.relative_to(ROOT)}"


@pytest.mark.parametrize("page", DOCS, ids=lambda page: str(page.relative_to(ROOT)))
def test_docs_name_no_issue_numbers_or_session_dates(page):
    text = page.read_text(encoding="utf-8")
    assert not re.findall(r"(?i)\bissues? \d+", text)
    assert not re.findall(r"\b20\d\d-\d\d-\d\d\b", text)


def heading_anchors(page: Path) -> set:
    anchors = set()
    for line in page.read_text(encoding="utf-8").splitlines():
        match = re.match(r"#+\s+(.*)", line)
        if match:
            anchors.add(re.sub(r"[^\w\- ]", "", match.group(1).strip().lower()).replace(" ", "-"))
    return anchors


@pytest.mark.parametrize("page", DOCS, ids=lambda page: str(page.relative_to(ROOT)))
def test_docs_links_resolve(page):
    """Relative links and their #anchors (weasel's generated section links relative to the project folder: skipped)."""
    text = GENERATED.sub("", page.read_text(encoding="utf-8"))
    for link in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", link):
            continue
        path, _, anchor = link.partition("#")
        target = (page.parent / path).resolve() if path else page
        assert target.exists(), f"{page.relative_to(ROOT)}: {link}"
        if anchor and target.suffix == ".md":
            assert anchor in heading_anchors(target), f"{page.relative_to(ROOT)}: {link}"
