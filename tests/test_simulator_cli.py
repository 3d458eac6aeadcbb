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
    cluster = LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                           dashboard_address=":0")            # two worker processes
    try:
        remote = sweep(sc, dask_scheduler=str(cluster.scheduler_address), **kw)
        workers = len(cluster.scheduler.workers)
    finally:
        cluster.close()
    assert workers == 2
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


@pytest.mark.parametrize("case", [
    ((79.6, -170.4, 329.6), "80±250"), ((0.5, 0.4, 0.6), "0.50±0.10"),
    ((0.312, float("nan"), float("nan")), "0.312"), ((0.0, 0.0, 0.0), "0"),
    ((168.0, 168.0, 168.0), "168"), ((12345.0, 12000.0, 12690.0), "12,345±345"),
    ((100.0, 84.0, 100.0), "100−16"), ((0.0, 0.0, 14.2), "0+14"),
    ((92.13, 91.72, 92.54), "92.1±0.4", 1), ((99.98, 99.97, 100.0), "100.0", 1),
    ((float("nan"), 0.0, 1.0), "n/a")])
def test_intervals_are_written_for_people(case):
    from armlock.cli.simulate import _short

    v, text, *most = case  # most: decimals at most (the table gives 1 for shares)
    assert _short(v, *most) == text


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


def test_scenario_new_writes_what_scenario_check_accepts(tmp_path):
    p = tmp_path / "desk.toml"
    r = runner.invoke(app, ["scenario", "new", "desk", "--out", str(p)])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["scenario", "check", str(p)])
    assert r.exit_code == 0, r.output
    assert r.stdout.strip().endswith("scenario 'desk' is valid: 200 weapons x 30 days, "
                                     "7 policies x 2 profiles, 5 runs, 2 zones, 0 warning(s)")
    r = runner.invoke(app, ["scenario", "check", str(p), "--json"])
    assert r.exit_code == 0 and '"warnings": []' in r.stdout and '"name": "desk"' in r.stdout


def test_precision_says_whether_it_met_the_target(scen, tmp_path):
    base = ["simulate", str(scen), "--policy", "none", "--policy", "geo", "--jobs", "1"]
    r = runner.invoke(app, [*base, "--runs", "1", "--precision", "0.99",
                            "--out", str(tmp_path / "met")], env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    assert "Precision target 0.99 met after 1 runs (widest: " in r.stdout
    r = runner.invoke(app, [*base, "--runs", "1", "--precision", "0.001", "--max-runs", "2",
                            "--out", str(tmp_path / "cap")], env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    assert ("warning: Precision target 0.001 NOT met: stopped at the cap of 2 runs (widest: "
            in r.stderr)
    runs = list(csv.DictReader((tmp_path / "cap" / "runs.csv").open()))
    assert sorted({int(x["run"]) for x in runs}) == [0, 1]  # the cap: 2 runs, not more
    assert '"met": false' in (tmp_path / "cap" / "meta.json").read_text()


def test_baseline_adds_pairs_against_it_and_warnings_are_printed(scen, tmp_path):
    text = scen.read_text() + ('\n[[zones]]\nname = "swapped"\nkind = "area"\n'
                               "polygon = [[-0.05, 16.27], [-0.05, 16.28], [-0.04, 16.28]]\n")
    scen.write_text(text)
    r = runner.invoke(app, ["simulate", str(scen), "--runs", "1", "--baseline", "rfid",
                            "--out", str(tmp_path / "o"), "--jobs", "1"])
    assert r.exit_code == 0, r.output
    assert "warning: zone 'swapped' lies" in r.stderr
    md = (tmp_path / "o" / "summary.md").read_text()
    assert "## Paired against no lock" in md and "## Paired against rfid" in md
    r = runner.invoke(app, ["sweep", str(scen), "--param", "gnss.p_bad_fix=0", "--runs", "1",
                            "--policy", "geo", "--out", str(tmp_path / "s"), "--jobs", "1"])
    assert r.exit_code == 0 and "warning: zone 'swapped' lies" in r.stderr


def test_tables_show_availability_cost_and_30_days_and_wide_has_one_table(scen, tmp_path):
    args = ["simulate", str(scen), "--runs", "1", "--jobs", "1", "--policy", "rfid"]
    r = runner.invoke(app, [*args, "--out", str(tmp_path / "a")], env={"COLUMNS": "80"})
    assert r.exit_code == 0, r.output
    heads = [line.split() for line in r.stdout.splitlines() if line.startswith("policy")]
    assert ["policy", "profile", "1h", "%", "1d", "%", "7d", "%", "30d", "%", "lockout", "h",
            "audit", "%"] in heads
    assert any("avail" in h for h in heads) and any("USD/w-yr" in h for h in heads)
    assert "…" not in r.stdout and max(len(x) for x in r.stdout.splitlines()) <= 80
    r = runner.invoke(app, [*args, "--wide", "--out", str(tmp_path / "b")],
                      env={"COLUMNS": "80"})
    assert r.exit_code == 0, r.output
    heads = [line.split() for line in r.stdout.splitlines() if line.startswith("policy")]
    assert len(heads) == 1 and {"30d", "avail", "USD/w-yr", "f.deny/k"} <= set(heads[0])
    assert "…" not in r.stdout and max(len(x) for x in r.stdout.splitlines()) > 80


def test_scenarios_and_cost_data_ship_in_the_wheel(tmp_path):
    """A non-editable install has the bundled scenarios and the cost data (built from a
    copy of the tree, so the checkout gets no build/ folder)."""
    import shutil
    import subprocess
    import sys
    import zipfile

    root = Path(scenario.__file__).resolve().parent.parent
    src = tmp_path / "src"
    shutil.copytree(root, src, ignore=shutil.ignore_patterns(
        ".venv", "node_modules", ".git", "build", "tests", "*.egg-info", "__pycache__"))
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "-q",
                           "-w", str(tmp_path / "whl")], capture_output=True, text=True,
                          timeout=240)
    if "No matching distribution found for setuptools" in proc.stderr:
        pytest.skip("the build backend (setuptools>=77) is not installable here (offline?)")
    assert proc.returncode == 0, proc.stderr
    (wheel,) = (tmp_path / "whl").glob("armlock-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {p.relative_to(root).as_posix() for d in ("simulator/data", "simulator/scenarios")
               for p in (root / d).iterdir() if p.suffix == ".toml"}
    assert shipped and shipped <= names
    assert "hardware/parts.toml" in names  # the lock's parts list, read by simulator/costs.py


def test_progress_total_grows_with_each_batch_of_runs(monkeypatch):
    import io

    from rich.console import Console
    from rich.progress import Progress

    from armlock.cli import simulate as cli_sim

    bars: list[Progress] = []

    def progress() -> Progress:
        bars.append(Progress(console=Console(file=io.StringIO())))
        return bars[-1]

    def batches(progress, on_tasks):  # precision mode: a first batch, then more runs
        for n in (3, 2):
            on_tasks(n)
            for _ in range(n):
                progress(1)

    monkeypatch.setattr(cli_sim, "_progress", progress)
    cli_sim._run_with_bar("x", batches)
    (task,) = bars[0].tasks
    assert (task.completed, task.total) == (5, 5)
