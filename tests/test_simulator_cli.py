"""`armlock simulate` / `armlock sweep`: reports, provenance, bad scenarios, Dask path."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from armlock.cli import app
from simulator import scenario
from simulator.sweep import parse_param, sweep

SCENARIO = """# tiny test scenario
[scenario]
name = "cli"
weapons = 20
days = 5
runs = 2
seed = 3
policies = ["none", "geo", "rfid"]

[[zones]]
name = "depot"
kind = "depot"
polygon = [[16.27, -0.05], [16.27, -0.044], [16.276, -0.044], [16.276, -0.05]]

[[zones]]
name = "patrol"
kind = "patrol"
polygon = [[16.276, -0.1], [16.276, 0.04], [16.38, 0.04], [16.38, -0.1]]

[duty]
issue_prob = 0.6

[adversaries]
diversions_per_1000_weapon_months = 2000.0
"""

runner = CliRunner()


@pytest.fixture
def scen(tmp_path: Path) -> Path:
    p = tmp_path / "cli.toml"
    p.write_text(SCENARIO)
    return p


def test_simulate_writes_reports_with_provenance_and_same_seed_same_csv(scen, tmp_path):
    out1, out2 = tmp_path / "a", tmp_path / "b"
    for out in (out1, out2):
        r = runner.invoke(app, ["simulate", str(scen), "--runs", "2", "--seed", "4",
                                "--out", str(out), "--jobs", "1"])
        assert r.exit_code == 0, r.output
    for name in ("summary.csv", "runs.csv", "diversions.csv", "summary.md"):
        assert (out1 / name).read_bytes() == (out2 / name).read_bytes(), name
    sha = hashlib.sha256(scen.read_bytes()).hexdigest()
    rows = list(csv.DictReader((out1 / "summary.csv").open()))
    assert {r["scenario_sha256"] for r in rows} == {sha}
    assert {r["policy"] for r in rows} == {"none", "geo", "rfid"}
    assert all(r["simpy"] and r["python"] and r["armlock"] for r in rows)
    page = (out1 / "report.html").read_text()
    assert "data:image/png;base64," in page and sha in page
    assert "usable after 1 d" in (out1 / "summary.md").read_text()
    assert "legitimate user" in r.output and "rfid" in r.output


def test_simulate_refuses_unknown_policy(scen, tmp_path):
    r = runner.invoke(app, ["simulate", str(scen), "--policy", "geo+iris",
                            "--out", str(tmp_path / "x")])
    assert r.exit_code == 2
    assert "iris" in r.output
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("text, where", [
    (SCENARIO.replace("issue_prob = 0.6", "issue_prob = 0.6\nshift_hourz = 8"),
     ":22: key 'duty.shift_hourz': unknown key"),
    (SCENARIO.replace("issue_prob = 0.6", "issue_prob = 1.6"),
     ":21: key 'duty.issue_prob': must be in [0, 1]"),
    (SCENARIO.replace("days = 5", 'days = "five"'),
     ":5: key 'scenario.days': must be int"),
    (SCENARIO.replace('kind = "patrol"', 'kind = "jungle"'),
     ":17: key 'zones.1.kind': must be one of"),
    (SCENARIO + '\n[permits]\nallowed_zones = ["nowhere"]\n',
     ":27: key 'permits.allowed_zones': no zone named 'nowhere'"),
    (SCENARIO + "\n[config]\nfix_max_age_s = 1.5\n",
     ":27: key 'config.fix_max_age_s': must be int"),
    (SCENARIO.replace("seed = 3", "seed = = 3"), "TOML syntax error"),
])
def test_bad_scenario_is_refused_with_key_and_line(tmp_path, text, where):
    p = tmp_path / "bad.toml"
    p.write_text(text)
    with pytest.raises(scenario.ScenarioError) as exc:
        scenario.load(p)
    assert where in str(exc.value)
    if "syntax" in where:
        assert "line 7" in str(exc.value)
    r = runner.invoke(app, ["simulate", str(p), "--out", str(tmp_path / "o")])
    assert r.exit_code == 2
    assert where.split(":")[-1].strip()[:20] in " ".join(r.output.split())
    assert not (tmp_path / "o").exists()


def test_bundled_scenarios_load():
    root = Path(scenario.__file__).parent / "scenarios"
    names = {scenario.load(p).name for p in root.glob("*.toml")}
    assert {"sahel_depot", "patrol_ambush", "ddr_collection", "border_jamming"} <= names


def test_parse_param():
    assert parse_param("adversaries.p_jammer=0,0.5,1") == ("adversaries.p_jammer",
                                                          [0, 0.5, 1])
    with pytest.raises(scenario.ScenarioError):
        parse_param("adversaries.p_jammer")


def test_sweep_on_dask_local_cluster_matches_local_processes(scen):
    from distributed import LocalCluster

    sc = scenario.load(scen)
    kw = {"param": "adversaries.p_jammer", "values": [0.0, 1.0], "runs": 1, "seed": 2,
          "policies": ["geo"]}
    local = sweep(sc, jobs=2, **kw)
    cluster = LocalCluster(n_workers=1, processes=False, threads_per_worker=1,
                           dashboard_address=":0")
    try:
        remote = sweep(sc, dask_scheduler=str(cluster.scheduler_address), **kw)
    finally:
        cluster.close()
    assert local.rows() == remote.rows()
    assert [v for v, _ in local.points] == [0.0, 1.0]


def test_sweep_command_writes_table(scen, tmp_path):
    r = runner.invoke(app, ["sweep", str(scen), "--param", "gnss.p_bad_fix=0,0.5",
                            "--runs", "1", "--policy", "geo", "--out", str(tmp_path / "s"),
                            "--jobs", "1"])
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader((tmp_path / "s" / "sweep.csv").open()))
    fd = {row["gnss.p_bad_fix"]: float(row["mean"]) for row in rows
          if row["metric"] == "false_denials_per_1000" and row["profile"] == "fail-secure"}
    assert fd["0.5"] > fd["0"]  # bad fixes deny a fail-secure geofenced lock
    r = runner.invoke(app, ["sweep", str(scen), "--param", "duty.nonsense=1,2"])
    assert r.exit_code == 2 and "duty.nonsense" in r.output


@pytest.mark.parametrize("v, text", [
    ((79.6, -170.4, 329.6), "80±250"), ((0.5, 0.4, 0.6), "0.50±0.10"),
    ((0.312, float("nan"), float("nan")), "0.312"), ((0.0, 0.0, 0.0), "0"),
    ((168.0, 168.0, 168.0), "168"), ((12345.0, 12000.0, 12690.0), "12,345±345"),
    ((float("nan"), 0.0, 1.0), "n/a")])
def test_intervals_are_written_for_people(v, text):
    from armlock.cli.simulate import _short

    assert _short(v) == text


def test_simulate_tables_fit_80_columns_and_out_needs_force(scen, tmp_path):
    out = tmp_path / "o"
    args = ["simulate", str(scen), "--runs", "2", "--out", str(out), "--jobs", "1"]
    r = runner.invoke(app, args, env={"COLUMNS": "80"})
    assert r.exit_code == 0, r.output
    assert max(len(line) for line in r.stdout.splitlines()) <= 80
    again = runner.invoke(app, args)
    assert again.exit_code == 2 and "holds earlier results" in again.stderr
    assert runner.invoke(app, [*args, "--force", "--json"]).exit_code == 0


def test_scenario_template_loads_and_unknown_keys_get_a_did_you_mean(tmp_path):
    from simulator.template import check, write_template

    p = write_template(tmp_path / "mine.toml")
    sc = check(p)
    assert sc.name == "mine" and sc.warnings == []
    with pytest.raises(scenario.ScenarioError):
        write_template(p)  # never overwrites
    p.write_text(p.read_text().replace("issue_prob = 0.3", "isue_prob = 0.3"))
    with pytest.raises(scenario.ScenarioError, match="did you mean 'issue_prob'"):
        check(p)


def test_zones_from_geojson_are_lon_lat_and_a_far_zone_is_warned(tmp_path):
    import json

    ring = [[-0.050, 16.270], [-0.044, 16.270], [-0.044, 16.276], [-0.050, 16.276],
            [-0.050, 16.270]]
    far = [[16.27, -0.05], [16.28, -0.05], [16.28, -0.04], [16.27, -0.05]]  # lat, lon swapped
    feats = [{"type": "Feature", "properties": {"name": "store", "kind": "depot"},
              "geometry": {"type": "Polygon", "coordinates": [ring]}},
             {"type": "Feature", "properties": {"name": "oops", "kind": "area"},
              "geometry": {"type": "Polygon", "coordinates": [far]}}]
    (tmp_path / "z.geojson").write_text(json.dumps({"type": "FeatureCollection",
                                                    "features": feats}))
    p = tmp_path / "g.toml"
    p.write_text('zone_files = ["z.geojson"]  # top-level key: before any table\n' + SCENARIO)
    sc = scenario.load(p)
    store = next(z for z in sc.data["zones"] if z["name"] == "store")
    assert store["polygon"][0] == [16.270, -0.050] and len(store["polygon"]) == 4
    assert len(sc.warnings) == 1 and "'oops'" in sc.warnings[0]
    assert "coordinate order" in sc.warnings[0]
    (tmp_path / "z.geojson").write_text('{"type": "Feature"}')
    with pytest.raises(scenario.ScenarioError, match="zone_files.0"):
        scenario.load(p)


def test_every_model_default_is_listed_in_docs_sources():
    root = Path(scenario.__file__).resolve().parent.parent
    text = (root / "docs" / "SOURCES.md").read_text()

    def leaves(d: dict, pre: str = ""):
        for k, v in d.items():
            if isinstance(v, dict) and f"{pre}{k}" != "config":
                yield from leaves(v, f"{pre}{k}.")
            else:
                yield f"{pre}{k}"

    def listed(key: str) -> bool:  # the key, its table (e.g. adversaries.tiers) or leaf
        parts = key.split(".")
        names = [".".join(parts[:i]) for i in range(2, len(parts) + 1)] + [parts[-1]]
        return any(f"`{n}`" in text for n in names)

    skip = ("scenario.", "config", "zones", "zone_files", "costs.price.")
    missing = [k for k in leaves(scenario.DEFAULTS) if not k.startswith(skip)
               and not listed(k)]
    assert missing == []
    assert "../shared" not in text
