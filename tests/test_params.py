"""The parameter table, both estimators' signatures and docstrings, and the command line agree."""

from __future__ import annotations

import inspect
import re

import pytest

from eegm2_sklearn import EEGM2Classifier, EEGM2Pretrainer
from eegm2_sklearn.cli import main
from eegm2_sklearn.estimators.params import (
    ARCH_PARAMS,
    FINGERPRINT_PARAMS,
    OWN_PARAMS,
    PARAM_CHECKS,
    PARAMS,
    SHARED_PARAMS,
    signature_params,
    validate_params,
)

ESTIMATORS = {"pretrainer": EEGM2Pretrainer, "classifier": EEGM2Classifier}


def _documented(cls) -> list[str]:
    """Names in the numpydoc ``Parameters`` section of ``cls``'s docstring."""
    doc = inspect.getdoc(cls)
    section = doc.split("Parameters\n----------\n", 1)[1].split("\n\n", 1)[0]
    section = re.split(r"\n[A-Z][a-z]+( [A-Z][a-z]+)?\n-+\n", section)[0]
    names = []
    for line in section.splitlines():
        if line and not line.startswith(" ") and ":" in line:
            names += [n.strip() for n in line.split(":")[0].split(",") if n.strip()]
    return names


@pytest.mark.parametrize("kind", ESTIMATORS)
def test_signature_is_the_table(kind):
    params = inspect.signature(ESTIMATORS[kind]).parameters
    assert list(params) == list(signature_params(kind))
    for name, p in params.items():
        assert p.default == PARAMS[name].default or (
            p.default is None and PARAMS[name].default is None
        ), name
        assert kind in PARAMS[name].owners, name


def test_every_row_belongs_to_an_estimator():
    for name, p in PARAMS.items():
        for kind in p.owners:
            assert name in signature_params(kind), (name, kind)
        for kind in set(ESTIMATORS) - set(p.owners):
            assert name not in signature_params(kind), (name, kind)
    assert set(SHARED_PARAMS) == set(signature_params("pretrainer")) & set(
        signature_params("classifier")
    )
    assert len(SHARED_PARAMS) == 28


@pytest.mark.parametrize("kind", ESTIMATORS)
def test_docstring_documents_every_parameter(kind):
    documented = _documented(ESTIMATORS[kind])
    assert sorted(documented) == sorted(signature_params(kind))


@pytest.mark.parametrize("kind", ESTIMATORS)
def test_defaults_pass_the_checks(kind):
    validate_params(ESTIMATORS[kind]())
    assert set(signature_params(kind)) <= set(PARAM_CHECKS)


def test_fingerprint_and_architecture_are_shared():
    # a fingerprint parameter of one estimator only is in that estimator's own list
    own = {name for names in OWN_PARAMS.values() for name in names}
    assert set(FINGERPRINT_PARAMS) <= set(SHARED_PARAMS) | own
    assert {n for n, p in PARAMS.items() if p.architecture} == set(ARCH_PARAMS)


def _help(command, capsys) -> str:
    with pytest.raises(SystemExit):
        main([command, "--help"])
    return " ".join(capsys.readouterr().out.split())


def test_cli_flags_come_from_the_table(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "1000")  # no line breaks inside help texts
    pretrain, finetune = _help("pretrain", capsys), _help("finetune", capsys)
    for name, p in PARAMS.items():
        if p.flag is None:
            continue
        helps = []
        if "pretrainer" in p.owners and name not in ("features",):
            helps.append(pretrain)
        if "classifier" in p.owners and not p.architecture:
            helps.append(finetune)
        for text in helps:
            assert p.flag in text, (name, p.flag)
            if p.choices is not None:
                shown = ",".join("none" if c is None else str(c) for c in p.choices)
                assert "{" + shown + "}" in text, (name, shown)
            if name not in ("verbose", "pretrained", "window_seconds"):
                assert p.doc.replace("%%", "%") in text, (name, p.doc)
