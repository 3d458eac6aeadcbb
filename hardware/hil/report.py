"""HIL results: JSON, a Markdown report and a self-contained HTML page with histograms.

Latency per operation ("unlock", "relock:<trigger>"): the host round trip (command sent
-> actuate EVENT received, ms; absent for relocks the board's own timer made) and the
decision latency the device reports (event in -> actuator drive, us). Percentiles are
linear interpolation between order statistics (numpy's default).
"""

from __future__ import annotations

import base64
import html
import io
import json
import time
from pathlib import Path
from typing import Any

QUANTILES = (50, 95, 99)
MIN_FOR_DISTRIBUTION = 5   # fewer samples: no histogram (one sample is noise, not a shape)


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100) of non-empty `values`, linear interpolation."""
    xs = sorted(values)
    if not xs:
        raise ValueError("percentile of no values")
    pos = (len(xs) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def samples_by_op(tests: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Latency samples of all tests grouped by operation, each tagged with its test."""
    out: dict[str, list[dict[str, Any]]] = {}
    for t in tests:
        for s in t.get("latency", []):
            out.setdefault(s["op"], []).append(dict(s, test=t["nodeid"]))
    return dict(sorted(out.items()))


def _quantiles(values: list[float]) -> dict[str, float | None]:
    return {f"p{q}": (round(percentile(values, q), 3) if values else None) for q in QUANTILES}


def latency_stats(tests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per operation: n, host round trip p50/p95/p99 (ms), device p50/p95/p99 (us)."""
    rows = []
    for op, ss in samples_by_op(tests).items():
        rtt = [s["rtt_ms"] for s in ss if s.get("rtt_ms") is not None]
        dev = [s["device_us"] for s in ss if s.get("device_us") is not None]
        rows.append({"op": op, "n": len(ss), "rtt_n": len(rtt), "rtt_ms": _quantiles(rtt),
                     "device_n": len(dev), "device_us": _quantiles(dev)})
    return rows


def all_samples(tests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every sample of every test, tagged with its test."""
    return [dict(x, test=t["nodeid"]) for t in tests for x in t.get("latency", [])]


def build_results(target: str, tests: list[dict[str, Any]], board: dict[str, Any] | None,
                  started: float, finished: float,
                  identity: dict[str, Any] | None = None) -> dict[str, Any]:
    """The results document (what results.json holds; the other reports render it)."""
    from hardware.hil import limits as L

    counts: dict[str, int] = {}
    for t in tests:
        counts[t["outcome"]] = counts.get(t["outcome"], 0) + 1
    rows = L.evaluate(all_samples(tests))
    bad = [t for t in tests if t["outcome"] in ("failed", "error", "infra")]
    verdict = "pass" if not bad and not any(r["result"] == "fail" for r in rows) else "fail"
    return {
        "verdict": verdict,
        "target": target,
        "board": board,
        "identity": identity or {},
        "started": _iso(started),
        "finished": _iso(finished),
        "duration_s": round(finished - started, 3),
        "summary": counts,
        "limits_summary": L.summary(rows),
        "failures": [{"nodeid": t["nodeid"], "outcome": t["outcome"],
                      "message": t.get("message", "")} for t in bad],
        "limits": rows,
        "answer_deadline_ms": L.ANSWER_MS,
        "tests": tests,
        "latency": latency_stats(tests),
    }


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def _fmt(v: float | None, unit: str = "") -> str:
    if v is None:
        return "-"
    return f"{v:.1f}{unit}" if unit == "" or abs(v) < 1000 else f"{v:.0f}{unit}"


def table_rows(stats: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """Header and cells of the latency table."""
    head = ["operation", "n", "host p50 ms", "host p95 ms", "host p99 ms",
            "device p50 us", "device p95 us", "device p99 us"]
    rows = [[r["op"], str(r["n"])] + [_fmt(r["rtt_ms"][f"p{q}"]) for q in QUANTILES]
            + [_fmt(r["device_us"][f"p{q}"]) for q in QUANTILES] for r in stats]
    return head, rows


def text_table(stats: list[dict[str, Any]]) -> list[str]:
    """The latency table as plain text lines (terminal summary)."""
    head, rows = table_rows(stats)
    if not rows:
        return ["(no unlock or relock was measured)"]
    widths = [max(len(c) for c in col) for col in zip(head, *rows, strict=False)]
    line = "  ".join(h.ljust(w) if i == 0 else h.rjust(w)
                     for i, (h, w) in enumerate(zip(head, widths, strict=True)))
    out = [line, "-" * len(line)]
    for r in rows:
        out.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                             for i, (c, w) in enumerate(zip(r, widths, strict=True))))
    return out


DEADLINE_NOTE = ("The board answers every credential {ms} ms after it arrived, accepted "
                 "or refused (equal time, rule 5): the host unlock round trip includes this "
                 "deadline; the decision itself is the device column.")


def _limit_cells(r: dict[str, Any]) -> list[str]:
    lo = "" if r["low"] is None else _fmt(r["low"])
    hi = "" if r["high"] is None else _fmt(r["high"])
    rng = f"{lo}..{hi}"
    return [r["id"], r["what"], str(r["n"]), _fmt(r["value"]), f"{rng} {r['unit']}",
            r["result"], r["requirement"]]


LIMIT_HEAD = ["limit", "measures", "n", "value", "limits", "result", "checks"]


def _identity_rows(ident: dict[str, Any]) -> list[tuple[str, str]]:
    b = ident.get("board") or {}
    return [
        ("board", f"{b.get('device_id')} firmware {b.get('fw_version')} "
                  f"({b.get('runtime')}, mode {b.get('mode')})"),
        ("chip", str(ident.get("chip"))),
        ("firmware manifest", f"{ident.get('manifest')} sha256 {ident.get('manifest_sha256')}"),
        ("git commit", str(ident.get("git_commit"))),
        ("rig file", f"{ident.get('rig_file')} sha256 {ident.get('rig_file_sha256')}"),
        ("target", str(ident.get("target"))),
        ("retries after infrastructure errors", str(ident.get("retries", 0))),
        ("host", str(ident.get("host"))),
        ("time", str(ident.get("time"))),
    ]


def render_markdown(results: dict[str, Any]) -> str:
    """The report as Markdown: summary and failures first, then the limits table, the
    identity block, latency, and the tests."""
    s, ls = results["summary"], results["limits_summary"]
    lines = [
        "# armlock HIL report", "",
        f"**{results['verdict'].upper()}** - tests: "
        + ", ".join(f"{v} {k}" for k, v in sorted(s.items()))
        + "; limits: " + ", ".join(f"{v} {k}" for k, v in sorted(ls.items())), "",
        f"- run: {results['started']} .. {results['finished']} ({results['duration_s']} s)",
        "", "## Failures", "",
    ]
    fails = results["failures"] + [
        {"nodeid": f"limit {r['id']}", "outcome": "fail",
         "message": f"{r['value']} {r['unit']} outside {r['low']}..{r['high']}"}
        for r in results["limits"] if r["result"] == "fail"]
    lines += [f"- `{f['nodeid']}` ({f['outcome']}): {_one_line(f['message'])}"
              for f in fails] or ["none"]
    lines += ["", "## Limits", "", "| " + " | ".join(LIMIT_HEAD) + " |",
              "|---|---|---:|---:|---|---|---|"]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in _limit_cells(r)) + " |"
              for r in results["limits"]]
    lines += ["", "## Identity", "", "| what | value |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in _identity_rows(results.get("identity") or {})]
    lines += ["", "## Latency", "", DEADLINE_NOTE.format(ms=results["answer_deadline_ms"]),
              "Host: command sent -> EVENT received (ms; none for relocks made by the "
              "board's own timer). Device: decision latency the board reports (us).", ""]
    head, rows = table_rows(results["latency"])
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|")
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    lines += ["", "## Tests", "", "| test | outcome | s | note |", "|---|---|---:|---|"]
    for t in results["tests"]:
        note = _one_line(t.get("message") or "").replace("|", "\\|")[:160]
        lines.append(f"| `{t['nodeid']}` | {t['outcome']} | {t['duration_s']:.2f} | {note} |")
    return "\n".join(lines) + "\n"


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def histogram_png(op: str, samples: list[dict[str, Any]]) -> str:
    """Base64 PNG: host round trip and device latency histograms of one operation."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    rtt = [s["rtt_ms"] for s in samples if s.get("rtt_ms") is not None]
    dev = [s["device_us"] for s in samples if s.get("device_us") is not None]
    fig, axes = plt.subplots(1, 2, figsize=(8, 2.6))
    for ax, vals, title, unit in ((axes[0], rtt, "host round trip", "ms"),
                                  (axes[1], dev, "device decision latency", "us")):
        if vals:
            ax.hist(vals, bins=min(30, max(5, len(vals))), color="#4472c4")
        else:
            ax.text(0.5, 0.5, "no samples", ha="center", va="center", transform=ax.transAxes)
        ax.set_title(f"{op}: {title}", fontsize=9)
        ax.set_xlabel(unit, fontsize=8)
        ax.set_ylabel("samples", fontsize=8)
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


_CSS = ("body{font-family:sans-serif;margin:2em;max-width:70em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:2px 6px;font-size:90%}td.n{text-align:right}"
        ".passed,.pass{color:#080}.failed,.error,.infra,.fail{color:#c00}.skipped{color:#888}")


def render_html(results: dict[str, Any]) -> str:
    """The report as one self-contained HTML page, in the Markdown report's order;
    histograms (embedded PNG) only for operations with enough samples."""
    e = html.escape
    s, ls = results["summary"], results["limits_summary"]
    v = results["verdict"]
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>armlock HIL report</title>"
        f"<style>{_CSS}</style></head><body><h1>armlock HIL report</h1>",
        f"<p class='{'passed' if v == 'pass' else 'failed'}'><b>{e(v.upper())}</b> - tests: "
        + ", ".join(f"{n} {e(k)}" for k, n in sorted(s.items())) + "; limits: "
        + ", ".join(f"{n} {e(k)}" for k, n in sorted(ls.items())) + "</p>",
        f"<p>run: {e(results['started'])} .. {e(results['finished'])} "
        f"({results['duration_s']} s)</p><h2>Failures</h2><ul>",
    ]
    fails = [(f["nodeid"], f["outcome"], f["message"]) for f in results["failures"]]
    fails += [(f"limit {r['id']}", "fail", f"{r['value']} {r['unit']} outside "
               f"{r['low']}..{r['high']}") for r in results["limits"] if r["result"] == "fail"]
    parts += [f"<li><code>{e(n)}</code> ({e(o)}): {e(_one_line(m))}</li>" for n, o, m in fails]
    parts.append(("" if fails else "<li>none</li>") + "</ul><h2>Limits</h2><table><tr>"
                 + "".join(f"<th>{e(h)}</th>" for h in LIMIT_HEAD) + "</tr>")
    for r in results["limits"]:
        cells = _limit_cells(r)
        parts.append("<tr>" + "".join(
            f"<td class='{e(c) if i == 5 else ''}'>{e(c)}</td>" for i, c in enumerate(cells))
            + "</tr>")
    parts.append("</table><h2>Identity</h2><table>")
    parts += [f"<tr><th>{e(k)}</th><td>{e(val)}</td></tr>"
              for k, val in _identity_rows(results.get("identity") or {})]
    head, rows = table_rows(results["latency"])
    parts.append("</table><h2>Latency</h2><p>"
                 + e(DEADLINE_NOTE.format(ms=results["answer_deadline_ms"]))
                 + " Host: command sent &rarr; EVENT received. Device: decision latency "
                 "reported by the board.</p><table><tr>"
                 + "".join(f"<th>{e(h)}</th>" for h in head) + "</tr>")
    for r in rows:
        parts.append("<tr>" + "".join(f"<td{' class=n' if i else ''}>{e(c)}</td>"
                                      for i, c in enumerate(r)) + "</tr>")
    parts.append("</table>")
    for op, ss in samples_by_op(results["tests"]).items():
        if len(ss) < MIN_FOR_DISTRIBUTION:
            continue
        parts.append(f"<h3>{e(op)} ({len(ss)} samples)</h3>"
                     f"<img alt='{e(op)} latency histogram' "
                     f"src='data:image/png;base64,{histogram_png(op, ss)}'>")
    parts.append(f"<p>Distributions are drawn for operations with at least "
                 f"{MIN_FOR_DISTRIBUTION} samples.</p><h2>Tests</h2><table><tr><th>test</th>"
                 "<th>outcome</th><th>s</th><th>note</th></tr>")
    for t in results["tests"]:
        parts.append(f"<tr><td><code>{e(t['nodeid'])}</code></td>"
                     f"<td class='{e(t['outcome'])}'>{e(t['outcome'])}</td>"
                     f"<td class=n>{t['duration_s']:.2f}</td>"
                     f"<td>{e(t.get('message') or '')}</td></tr>")
    parts.append("</table></body></html>")
    return "\n".join(parts)


def write_all(results: dict[str, Any], out: Path) -> dict[str, Path]:
    """Write results.json, report.md and report.html into `out`; their paths."""
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "results.json", "md": out / "report.md", "html": out / "report.html"}
    paths["json"].write_text(json.dumps(results, indent=1) + "\n")
    paths["md"].write_text(render_markdown(results))
    paths["html"].write_text(render_html(results))
    return paths
