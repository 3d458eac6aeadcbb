"""Measurements with limits: the one limits table, pass/fail per limit, the answer
deadline apart from the decision latency, a report that starts with its verdict and
failures and names what was tested, and JUnit properties that are JSON."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from hardware.hil import limits as L
from hardware.hil import report as R
from hardware.hil.measure import answer_delays

pytest_plugins = ["pytester"]


def sample(op: str, rtt_ms: float | None = None, device_us: int | None = None
           ) -> dict[str, Any]:
    return {"op": op, "rtt_ms": rtt_ms, "device_us": device_us}


def by_id(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in rows}


def test_every_limit_names_its_unit_and_the_requirement_it_checks() -> None:
    ids = [lim.id for lim in L.LIMITS]
    assert len(ids) == len(set(ids))
    for lim in L.LIMITS:
        assert lim.unit and (lim.high is not None or lim.low is not None)
        assert any(w in lim.requirement for w in ("rule", "NIJ 4.18", "attack")), lim.id


def test_limits_pass_fail_and_no_data() -> None:
    rows = by_id(L.evaluate([
        sample("relock:grip", None, 4_000), sample("relock:grip", None, 61_000),
        sample("relock:timeout", None, 2_000),
        sample("unlock", 254.0, 1_200), sample("unlock", 256.0, 3_900),
    ]))
    grip = rows["relock_grip_device"]
    assert (grip["n"], grip["value"], grip["result"]) == (2, 61.0, "fail")  # the worst one
    other = rows["relock_other_device"]                  # grip samples are not counted twice
    assert (other["n"], other["value"], other["result"]) == (1, 2.0, "pass")
    assert rows["unlock_decision_device"]["result"] == "pass"
    assert rows["unlock_decision_device"]["value"] == 3.9
    assert rows["unlock_host"]["result"] == "pass"
    assert rows["relock_tamper_device"]["result"] == "no data"
    assert L.summary(list(rows.values()))["fail"] == 1


def test_answer_deadline_is_its_own_measurement_and_must_be_equal() -> None:
    equal = by_id(L.evaluate([sample("answer:accept", 251.0), sample("answer:accept", 252.5),
                              sample("answer:refuse", 252.0), sample("answer:refuse", 253.0)]))
    assert equal["answer_deadline"]["result"] == "pass"
    assert equal["answer_equal_time"]["value"] == 0.75
    assert equal["answer_equal_time"]["result"] == "pass"
    oracle = by_id(L.evaluate([sample("answer:accept", 251.0), sample("answer:refuse", 262.0)]))
    assert oracle["answer_equal_time"]["result"] == "fail"      # 11 ms tells accept apart
    early = by_id(L.evaluate([sample("answer:refuse", 12.0)]))
    assert early["answer_deadline"]["result"] == "fail"         # answered before the deadline


def test_answers_pair_with_their_credentials_in_order() -> None:
    sent = [("permit", 0.0), ("rfid", 1.0), ("finger", 1.01), ("rfid", 5.0)]
    log = [{"kind": "answer", "ok": True, "_rx": 1.251}, {"kind": "answer", "ok": True,
                                                           "_rx": 1.262},
           {"kind": "_power_cycle", "_rx": 5.1},                  # the third never answered
           {"kind": "answer", "ok": False, "_rx": 9.0}]
    assert answer_delays(sent, log) == [("accept", 251.0), ("accept", 252.0)]
    log.append({"kind": "actuate", "locked": False, "_rx": 1.2625})  # the finger opened it
    assert answer_delays(sent, log) == [("accept", 251.0), ("unlock", 252.0)]
    log[1]["_rx_ms"] = 900.0          # read late (the test was busy): paired, not timed
    assert answer_delays(sent, log) == [("accept", 251.0)]


def results(tests: list[dict[str, Any]]) -> dict[str, Any]:
    ident = {"board": {"device_id": "AL-1", "fw_version": "0.1.0", "runtime": "esp32",
                       "mode": "dev"}, "chip": "esp32", "manifest": "m.json",
             "manifest_sha256": "ab" * 32, "git_commit": "c0ffee", "rig_file": "rig.toml",
             "rig_file_sha256": "cd" * 32, "target": "usb:0001", "host": "bench-pc",
             "time": "2026-12-02T03:00:00Z"}
    return R.build_results("rig.toml", tests, ident["board"], 0.0, 10.0, ident)


def test_report_starts_with_verdict_and_failures_and_says_what_was_tested(tmp_path: Path
                                                                          ) -> None:
    tests = [{"nodeid": "s::test_a", "outcome": "passed", "duration_s": 1.0,
              "latency": [sample("relock:grip", None, 70_000)]},
             {"nodeid": "s::test_b", "outcome": "infra", "duration_s": 3.0, "latency": [],
              "message": "BoardLost: board lock-a lost at step 3 (status)"}]
    res = results(tests)
    assert res["verdict"] == "fail"
    paths = R.write_all(res, tmp_path)
    md = paths["md"].read_text()
    assert md.splitlines()[2].startswith("**FAIL** - tests: 1 infra, 1 passed; limits:")
    fail_part = md[md.index("## Failures"):md.index("## Limits")]
    assert "s::test_b" in fail_part and "lost at step 3" in fail_part
    assert "limit relock_grip_device" in fail_part
    for what in ("c0ffee", "ab" * 32, "rig.toml", "bench-pc", "esp32", "AL-1"):
        assert what in md[md.index("## Identity"):], what
    page = paths["html"].read_text()
    for row in res["limits"]:                     # HTML says the same as Markdown
        assert f"<td class=''>{row['id']}</td>" in page and f"| {row['id']} |" in md
    assert page.index("Failures") < page.index("Limits") < page.index("Identity")
    data = json.loads(paths["json"].read_text())
    assert data["limits"] == res["limits"] and data["identity"]["git_commit"] == "c0ffee"


def test_distributions_only_with_enough_samples(tmp_path: Path) -> None:
    few = [{"nodeid": "t", "outcome": "passed", "duration_s": 1.0,
            "latency": [sample("unlock", 255.0, 1000)]}]
    many = [{"nodeid": "t", "outcome": "passed", "duration_s": 1.0,
             "latency": [sample("unlock", 250.0 + i, 1000 + i) for i in range(8)]}]
    assert "data:image/png" not in R.render_html(results(few))
    assert R.render_html(results(many)).count("data:image/png") == 1


def test_junit_properties_are_json(pytester: pytest.Pytester, tmp_path: Path) -> None:
    pytester.makepyfile("""
        def test_unlock(rig, authority):
            rig.load(authority.permit())
            rig.unlock()
    """)
    junit = tmp_path / "junit.xml"
    res = pytester.runpytest_inprocess("--armlock-target", "virtual-cpython",
                                       "--junitxml", str(junit), "-p", "no:cacheprovider")
    res.assert_outcomes(passed=1)
    root = ET.parse(junit).getroot()
    props = {p.get("name"): p.get("value") for p in root.iter("property")}
    latency = json.loads(props["armlock_latency"])
    assert latency[0]["op"] == "unlock" and isinstance(latency[0]["device_us"], int)
    assert json.loads(props["armlock_board"])["device_id"] == "AL-HIL-0001"
    ident = json.loads(props["armlock_identity"])
    assert ident["board"]["device_id"] == "AL-HIL-0001" and ident["git_commit"]
    limits = {r["id"]: r for r in json.loads(props["armlock_limits"])}
    assert limits["unlock_decision_device"]["n"] == 1
    assert props["armlock_verdict"] in ("pass", "fail")
