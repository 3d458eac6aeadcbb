"""docs/schematic-<board>.svg is drawn from hardware/boards/<board>.json and kept in step."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from hardware import boards, schematic


def texts(svg: str) -> list[str]:
    return re.findall(r"<tspan[^>]*>([^<]*)</tspan>", svg)


@pytest.mark.parametrize("name", boards.available())
def test_committed_schematic_is_the_one_the_board_file_draws(name: str) -> None:
    """Regenerate and compare: a board file edit without `python -m hardware.schematic`
    fails here."""
    assert schematic.path_for(name).read_text() == schematic.svg(name)


@pytest.mark.parametrize("name", boards.available())
def test_every_pin_of_the_board_file_is_wired_in_the_schematic(name: str) -> None:
    words = texts(schematic.path_for(name).read_text())
    for role, gpio in boards.load(name).pins().items():
        assert f"GPIO{gpio}" in words, (role, gpio)
        # the net name at the DevKit pin and at the part it goes to
        assert words.count(role) >= 2, role


def test_a_moved_pin_moves_in_the_drawing(tmp_path: Path) -> None:
    data = json.loads(boards.board_path("esp32-devkitc").read_text())
    data["tamper"]["switch"] = 32
    p = tmp_path / "esp32-devkitc.json"
    p.write_text(json.dumps(data))
    words = texts(schematic.svg(str(p)))
    assert "GPIO32" in words and "GPIO27" not in words


def test_check_mode_reports_a_stale_drawing(monkeypatch: pytest.MonkeyPatch,
                                           tmp_path: Path) -> None:
    monkeypatch.setattr(schematic, "DOCS", tmp_path)
    assert schematic.main(["--check"]) == 1
    assert schematic.main([]) == 0
    assert schematic.main(["--check"]) == 0
