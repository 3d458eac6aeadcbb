"""docs/HARDWARE.md and hardware/parts.toml: the tables are generated, the flash commands
match the board files, the figures the simulator takes have its names."""

from __future__ import annotations

from pathlib import Path

import pytest

from hardware import boards, parts, schematic
from simulator.scenario import DEFAULTS

DOC = parts.DOC.read_text()


def test_generated_tables_are_current() -> None:
    """Edit parts.toml, then `python -m hardware.parts --write`; this fails in between."""
    assert parts.splice(DOC, parts.markdown(parts.load())) == DOC


@pytest.mark.parametrize("name", boards.available())
def test_flash_command_matches_the_board_file(name: str) -> None:
    b = boards.load(name)
    cmd = (f"esptool --chip {b.chip.esptool_chip} --port /dev/ttyUSB0 --baud 460800 "
           f"write-flash -z {b.image_offset:#x} ")
    assert cmd in DOC, cmd
    assert f"({name})" in DOC and schematic.path_for(name).name in DOC


@pytest.mark.parametrize("name", boards.available())
def test_image_row_fits_the_boards_memory(name: str) -> None:
    """A board with PSRAM is told to take a SPIRAM image (the plain one leaves the PSRAM
    unused and the heap too small); one without is told it needs the frozen build."""
    b = boards.load(name)
    row = next(line for line in DOC.splitlines()
               if line.startswith("|") and f"({name})" in line)
    assert ("SPIRAM" in row) == b.psram, row
    assert b.psram or "armlock build --frozen" in row, row


def test_every_part_is_priced_and_dated() -> None:
    data = parts.load()
    for p in data["part"]:
        assert p["price_date"], p["id"]
        src = p["price_source"]
        assert src.startswith(("assumed", "in the ", "on the ")) or "https://" in src, p["id"]
        assert p["current_source"], p["id"]
    for build in parts.BUILDS:
        assert parts.cost(data, build) > 0


def test_budget_is_a_sum_of_the_parts() -> None:
    data = parts.load()
    as_built = parts.budget(data, "lock", "geofenced", "as built")
    time_only = parts.budget(data, "lock", "time-only", "as built")
    gnss = next(p for p in data["part"] if p["id"] == "gnss")
    assert as_built["idle_ma"] - time_only["idle_ma"] == pytest.approx(
        parts.cell_ma(data, "3v3", gnss["on_ma"]))
    floor = parts.budget(data, "lock", "time-only", "floor")
    assert floor["days"] > time_only["days"] > as_built["days"]
    assert as_built["hours"] == pytest.approx(data["cell"]["capacity_mah"] / as_built["avg_ma"])


def test_simulator_figures_use_the_simulators_names() -> None:
    sim = parts.sim_battery(parts.load())
    assert set(sim) <= set(DEFAULTS["battery"])
    assert sim["unlock_mah"] > 0 and sim["gnss_ma"] > 0


@pytest.mark.parametrize("old,new,why", [
    ('id = "gnss"\nname', 'id = "gnss"\nnom', "missing name"),
    ('rail = "3v3"\non_ma = 25.0', 'rail = "5v"\non_ma = 25.0', "unknown rail '5v'"),
])
def test_bad_part_is_refused_by_name(tmp_path: Path, old: str, new: str, why: str) -> None:
    text = parts.PARTS.read_text()
    assert old in text
    bad = tmp_path / "parts.toml"
    bad.write_text(text.replace(old, new, 1))
    with pytest.raises(ValueError, match=f"part gnss: {why}"):
        parts.load(bad)
