"""Fixtures shared by unit and integration tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from consumer.scoring.codec import PlainAvroCodec
from consumer.scoring.model import FraudModel, load_model
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
