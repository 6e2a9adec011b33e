"""Fixtures shared by unit and integration tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from consumer.scoring.codec import PlainAvroCodec
from consumer.scoring.models import FraudModel, load_model
from consumer.training.generator import LabelledTransaction, TransactionGenerator

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "models"


@pytest.fixture(scope="session")
def model() -> FraudModel:
    return load_model(MODELS)


@pytest.fixture(scope="session")
def codec() -> PlainAvroCodec:
    return PlainAvroCodec()


@pytest.fixture(scope="session")
def events() -> list[LabelledTransaction]:
    return TransactionGenerator(7).take(3000)


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model directory holding the shipped 1.0.0 and a challenger 1.1.0, trained on
    other data, with CURRENT naming 1.0.0 (promotion tests rename another over it)."""
    import shutil

    from consumer.training.fit import Policy
    from consumer.training.train import TrainingSpec, train

    directory = tmp_path_factory.mktemp("models")
    for f in MODELS.glob("fraud-lgbm-1.0.0.*"):
        shutil.copy(f, directory / f.name)
    train(
        TrainingSpec(version="1.1.0", rows=60_000, seed=5, policy=Policy(max_rounds=120)), directory
    )
    (directory / "CURRENT").write_text("fraud-lgbm-1.0.0.json\n")
    return directory


def half_copied(directory: Path, version: str) -> str:
    """A model a reload must refuse: 1.1.0 as a new version whose model file was cut in
    half (a copy that did not finish). Returns its card's name."""
    import json

    card = json.loads((directory / "fraud-lgbm-1.1.0.json").read_text())
    name = f"fraud-lgbm-{version}"
    card.update(version=version, model_file=f"{name}.txt")
    (directory / f"{name}.json").write_text(json.dumps(card))
    whole = (directory / "fraud-lgbm-1.1.0.txt").read_bytes()
    (directory / f"{name}.txt").write_bytes(whole[: len(whole) // 2])
    return f"{name}.json"


def promote(directory: Path, card: str) -> None:
    """What an operator does: write CURRENT.tmp, rename it over CURRENT."""
    tmp = directory / "CURRENT.tmp"
    tmp.write_text(card + "\n")
    tmp.replace(directory / "CURRENT")
