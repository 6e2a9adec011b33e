"""`fraud-consumer model publish|promote`: verified, atomic, never promoting by accident."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from consumer.cli import main
from consumer.scoring.models import resolve_card_path
from tests.conftest import MODELS, half_copied

V1, V2 = "fraud-lgbm-1.0.0.json", "fraud-lgbm-1.1.0.json"


def test_a_new_volume_is_seeded_once_and_names_its_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    volume = tmp_path / "models"
    assert main(["model", "publish", str(MODELS), "--to", str(volume), "--if-empty"]) == 0
    assert (volume / "CURRENT").read_text().strip() == V1
    assert sorted(p.name for p in volume.iterdir()) == ["CURRENT", V1, "fraud-lgbm-1.0.0.txt"]
    assert main(["model", "publish", str(MODELS), "--to", str(volume), "--if-empty"]) == 0
    assert "already holds a model" in capsys.readouterr().out


def test_publish_then_promote_then_roll_back(model_dir: Path, tmp_path: Path) -> None:
    volume = tmp_path / "models"
    assert main(["model", "publish", str(model_dir / V1), "--to", str(volume)]) == 0
    assert main(["model", "publish", str(model_dir / V2), "--to", str(volume)]) == 0
    assert resolve_card_path(volume).name == V1  # published, not promoted
    assert main(["model", "promote", V2, "--dir", str(volume)]) == 0
    assert resolve_card_path(volume).name == V2
    assert main(["model", "promote", "fraud-lgbm-1.0.0", "--dir", str(volume)]) == 0
    assert resolve_card_path(volume).name == V1
    assert not [p for p in volume.iterdir() if ".tmp" in p.name]


def test_publishing_into_a_directory_without_current_pins_what_it_serves(
    model_dir: Path, tmp_path: Path
) -> None:
    volume = tmp_path / "models"
    volume.mkdir()
    for f in MODELS.glob("fraud-lgbm-1.0.0.*"):
        shutil.copy(f, volume)
    assert resolve_card_path(volume).name == V1  # no CURRENT: the newest serves
    assert main(["model", "publish", str(model_dir / V2), "--to", str(volume)]) == 0
    assert (volume / "CURRENT").read_text().strip() == V1  # the newer card did not win


def test_a_broken_model_is_refused_before_it_reaches_the_directory(
    model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "src"
    shutil.copytree(model_dir, source)
    broken = half_copied(source, "1.2.0")
    volume = tmp_path / "models"
    assert main(["model", "publish", str(model_dir / V1), "--to", str(volume)]) == 0
    assert main(["model", "publish", str(source / broken), "--to", str(volume), "--promote"]) == 2
    assert "is corrupt or was replaced" in capsys.readouterr().err
    assert not (volume / broken).exists() and resolve_card_path(volume).name == V1
    # a broken card already in the directory is never named in CURRENT
    shutil.copy(source / broken, volume)
    shutil.copy(source / "fraud-lgbm-1.2.0.txt", volume)
    assert main(["model", "promote", broken, "--dir", str(volume)]) == 2
    assert "not promoted" in capsys.readouterr().err
    assert resolve_card_path(volume).name == V1
    for bad in ("../x.json", "", "nope.json"):
        assert main(["model", "promote", bad, "--dir", str(volume)]) == 2
    assert resolve_card_path(volume).name == V1
