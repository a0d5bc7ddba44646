"""Imports flow one way between the package's layers, and no private name crosses them.

ops <- models <- training <- estimators <- cli; data (inputs, windows, streaming, scaling)
beside training, free of skorch; preprocessing, datasets and viz beside them. The modules
``validation`` (the option checker) and ``environment`` (versions, braindecode import) serve
every layer. See docs/development.rst for the picture.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "eegm2_sklearn"

#: The parts of the package each part may import from ("root": the package's __init__,
#: e.g. for __version__).
ALLOWED = {
    "validation": set(),
    "environment": {"root", "ops"},
    "ops": {"validation"},
    "models": {"ops", "validation"},
    "data": {"models", "validation", "environment"},
    "training": {"root", "ops", "models", "data", "validation", "environment"},
    "estimators": {"ops", "models", "data", "training", "validation", "environment"},
    "preprocessing": {"data", "validation", "environment"},
    "datasets": {"preprocessing", "data", "validation", "environment"},
    "viz": {"data", "validation"},
    "losses": {"models"},
    "cli": {"root", "estimators", "training", "preprocessing", "datasets", "environment"},
    "root": {"estimators", "environment"},
}

#: Third-party packages a part must not import.
FORBIDDEN = {
    "ops": {"sklearn", "skorch", "mne", "braindecode"},
    "models": {"sklearn", "skorch", "mne", "braindecode"},
    "data": {"skorch"},
}


def _part(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    if rel.parts == ("__init__.py",):
        return "root"
    return rel.parts[0].removesuffix(".py")


def _module_name(path: Path) -> list[str]:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    return parts[:-1] if parts[-1] == "__init__" else parts


def _imports(path: Path):
    """``(target module parts, imported names)`` of every import in ``path``."""
    here = _module_name(path)
    package = here if path.name == "__init__.py" else here[:-1]
    return _imports_of(path.read_text(), package)


def _imports_of(source: str, package: list[str]):
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name.split("."), []
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = base + (node.module.split(".") if node.module else [])
            else:
                target = node.module.split(".")
            names = [a.name for a in node.names]
            if node.module is None:  # from . import x: x may be a module
                for name in names:
                    yield target + [name], []
            else:
                yield target, names


def _modules():
    return sorted(PACKAGE.rglob("*.py"))


def _problems(part: str, imports) -> list[str]:
    problems = []
    for target, names in imports:
        if target[0] != "eegm2_sklearn":
            if target[0] in FORBIDDEN.get(part, ()):
                problems.append(f"imports {'.'.join(target)}, which {part}/ must not")
            continue
        other = "root" if len(target) == 1 else target[1].removesuffix(".py")
        if other in ("__version__",):
            other = "root"
        if other == part:
            continue
        if other not in ALLOWED[part]:
            problems.append(f"imports {'.'.join(target)} across the layers ({part} -> {other})")
        private = [p for p in target[1:] if p.startswith("_") and not p.startswith("__")]
        private += [n for n in names if n.startswith("_") and not n.startswith("__")]
        if private:
            problems.append(f"imports private {private} of {'.'.join(target)}")
    return problems


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_follow_the_layers(path):
    problems = _problems(_part(path), _imports(path))
    assert not problems, f"{path.relative_to(PACKAGE)}: " + "; ".join(problems)


def test_every_part_is_known():
    parts = {_part(p) for p in _modules()}
    assert parts <= set(ALLOWED), sorted(parts - set(ALLOWED))


@pytest.mark.parametrize(
    "part, source, expected",
    [
        ("models", "from ..estimators import EEGM2Classifier", "models -> estimators"),
        ("training", "from ..estimators.params import PARAMS", "training -> estimators"),
        ("data", "import skorch", "data/ must not"),
        ("cli", "from .training.fit import _seed", "private ['_seed']"),
        ("cli", "from .training import _distributed", "private ['_distributed']"),
        ("estimators", "from ..data._inputs import X", "private ['_inputs']"),
    ],
)
def test_the_check_reports_crossings(part, source, expected):
    package = ["eegm2_sklearn"] if part == "cli" else ["eegm2_sklearn", part]
    problems = _problems(part, _imports_of(source, package))
    assert any(expected in p for p in problems), problems


def test_allowed_imports_pass():
    assert not _problems("cli", _imports_of("from .training import distributed", ["eegm2_sklearn"]))
