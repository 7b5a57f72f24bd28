"""The guides stay true: every file, folder, dotted name, class and command they name exists."""

from __future__ import annotations

import importlib
import re
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "src" / "incidentd"
GUIDES = [ROOT / "docs" / "architecture.md", ROOT / "CONTRIBUTING.md"]
DOMAINS = [p for p in PACKAGE.iterdir() if (p / "service.py").exists() and (p / "routes.py").exists()]
# Names the guides use that belong to libraries or to DevRev's wire, not to our code.
NOT_OURS = {"Meta", "async", "op.batch_alter_table", "invalid_field"}
SOURCE = "\n".join(path.read_text() for path in PACKAGE.rglob("*.py"))


def spans(text: str) -> list[str]:
    """Inline code spans, outside fenced blocks."""
    prose = re.sub(r"```.*?```", "", text, flags=re.S)
    return re.findall(r"`([^`\n]+)`", prose)


def fenced(text: str, language: str) -> list[str]:
    return [line for block in re.findall(rf"```{language}\n(.*?)```", text, flags=re.S) for line in block.splitlines()]


def path_exists(name: str) -> bool:
    name = name.split()[0].rstrip(",")
    if name.startswith("<domain>/"):  # e.g. <domain>/routes.py: every domain package has it
        return all((d / name.split("/", 1)[1]).exists() for d in DOMAINS)
    if "<" in name:  # a pattern such as tests/<domain>/: the folder before the placeholder exists
        return (ROOT / name.split("<")[0]).is_dir()
    if "/" not in name:  # a bare file name, as the text names files inside a package it is describing
        return any(PACKAGE.rglob(name)) or (ROOT / name).exists()
    return any((base / name).exists() for base in (ROOT, PACKAGE))


def looks_like_path(span: str) -> bool:
    return bool(re.fullmatch(r"[\w.<>/-]+\.(py|md|yaml)|[\w<>-]+(/[\w.<>-]+)+/?", span.split()[0]))


def dotted_exists(name: str) -> bool:
    """`a.b.c` names an attribute of an incidentd module, or of a domain's module (`service.create`)."""
    name = name.removeprefix("incidentd.")
    return any(_resolves(prefix + name) for prefix in ["", *(f"{d.name}." for d in DOMAINS)])


def _resolves(name: str) -> bool:
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            target: object = importlib.import_module("incidentd." + ".".join(parts[:cut]))
        except ImportError:
            continue
        for attribute in parts[cut:]:
            if not hasattr(target, attribute):
                return False
            target = getattr(target, attribute)
        return True
    return False


@pytest.mark.parametrize("guide", GUIDES, ids=lambda p: p.name)
def test_named_files_and_folders_exist(guide: Path) -> None:
    text = guide.read_text()
    named = [s for s in spans(text) if looks_like_path(s)]
    named += re.findall(r"(src/incidentd/[\w/.]+|<domain>/\w+\.py|kit/\w+\.py)", "\n".join(fenced(text, "")))
    assert named, "a guide that names no file is not checked"
    missing = [name for name in named if not path_exists(name)]
    assert not missing, f"{guide.name} names paths that do not exist: {missing}"


@pytest.mark.parametrize("guide", GUIDES, ids=lambda p: p.name)
def test_named_code_exists(guide: Path) -> None:
    text = guide.read_text()
    dotted = [s for s in spans(text) if re.fullmatch(r"[a-z_]+(\.[a-z_]+)+", s) and not s.endswith((".py", ".md"))]
    missing = [name for name in dotted if name not in NOT_OURS and not dotted_exists(name)]
    identifiers = [s.split()[0] for s in spans(text) if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", s.split()[0])]
    defined = [
        name
        for name in identifiers
        if len(name) > 3 and not name.isupper() and not name.startswith("INCIDENTD_") and name not in NOT_OURS
    ]
    missing += [
        name
        for name in defined
        if not re.search(rf"\b(def|class)\s+{name}\b|\b{name}\s*[:=]", SOURCE) and not (PACKAGE / name).is_dir()
    ]
    assert not missing, f"{guide.name} names code that does not exist: {missing}"


def test_contributing_commands_name_real_things() -> None:
    lines = [line for line in fenced((ROOT / "CONTRIBUTING.md").read_text(), "sh") if line.strip()]
    assert lines
    for line in lines:
        words = [w for w in line.split("#")[0].split() if "=" not in w or w.startswith("-")]
        program = words[0]
        if program.startswith(".venv/"):
            assert program.split("/")[-1] in {"pip", "incidentd", "pytest", "ruff", "mypy"}, line
        else:
            assert shutil.which(program) or (ROOT / program).exists(), line
        for word in words[1:]:
            if word.startswith(("tests/", ".ci/")):
                assert (ROOT / word).exists(), f"{line}: {word} does not exist"
