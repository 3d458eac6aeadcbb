"""Reports: summary with 95 % CIs as CSV, Markdown and self-contained HTML (base64 plots)."""

from __future__ import annotations

import csv
import html
import json
import math
from pathlib import Path
from typing import Any

from simulator import charts, sections
from simulator.compare import paired, sentences
from simulator.costs import COMPONENTS
from simulator.metrics import METRICS, PERCENT, RATIOS
from simulator.stats import clustered, mean_ci

PROV_KEYS = ("scenario", "scenario_sha256", "seed", "armlock", "simpy", "python")


def summarize(rows: list[dict[str, Any]], group: tuple[str, ...] = ("policy", "profile")
              ) -> list[dict[str, Any]]:
    """Every metric per group (order of first appearance), with its 95 % interval and n.

    Shares and rates are pooled over runs and weapons (cluster-adjusted Wilson,
    simulator/stats.py); other metrics are means over runs (Student t).
    """
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault(tuple(r[g] for g in group), []).append(r)
    out = []
    for key, rs in groups.items():
        row: dict[str, Any] = dict(zip(group, key, strict=True))
        row["runs"] = len(rs)
        row["n"] = {k: sum(int(r.get(k, 0)) for r in rs) for k in N_KEYS}
        pooled = _pool([r["_ss"] for r in rs if "_ss" in r])
        for name, _label, _unit in METRICS:
            if name in pooled:
                row[name] = _pooled(name, pooled[name])
            else:
                row[name] = _clip(name, mean_ci([float(r[name]) for r in rs]))
        for k in ("cost_" + c for c in COMPONENTS):
            if k in rs[0]:
                row[k] = mean_ci([float(r[k]) for r in rs])
        out.append(row)
    return out


N_KEYS = ("tries", "uses", "diversions")
# what each metric's n counts (the rest: runs)
N_OF = {"false_denials_per_1000": "tries", "failed_uses_per_1000": "uses",
        "interrupted_per_1000": "uses", "availability": "uses", "usable_1h": "diversions",
        "usable_1d": "diversions", "usable_7d": "diversions", "usable_30d": "diversions"}


def _pool(sss: list[dict[str, list[float]]]) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for ss in sss:
        for k, v in ss.items():
            acc = out.setdefault(k, [0.0] * len(v))
            for i, x in enumerate(v):
                acc[i] += x
    return out


def _pooled(name: str, ss: list[float]) -> tuple[float, float, float]:
    """(estimate, low, high) on the metric's scale from pooled cluster statistics."""
    p, lo, hi, _n, _deff = clustered(ss)
    if name == "availability":
        return 100 * (1 - p), 100 * (1 - hi), 100 * (1 - lo)
    scale = RATIOS[name][2] if name in RATIOS else 100.0
    return scale * p, scale * lo, scale * hi


def _clip(name: str, v: tuple[float, float, float]) -> tuple[float, float, float]:
    """Clip a t interval to the metric's range (shares in [0, 100], lockout_h in [0, 168]
    as it is censored at 7 days, others >= 0)."""
    mean, lo, hi = v
    top = 100.0 if name in PERCENT else 168.0 if name == "lockout_h" else math.inf
    return mean, min(max(lo, 0.0), top), min(max(hi, 0.0), top)


def fmt(name: str, v: tuple[float, float, float]) -> str:
    """'mean [lo, hi]' with sensible precision."""
    mean, lo, hi = v
    if math.isnan(mean):
        return "n/a"
    nd = 1 if name in PERCENT or name.endswith("_h") or name.endswith("_1000") else 2
    if math.isnan(lo):
        return f"{mean:.{nd}f}"
    return f"{mean:.{nd}f} [{lo:.{nd}f}, {hi:.{nd}f}]"


def _num(v: float) -> str:
    return "" if math.isnan(v) else repr(round(v, 6))


def write_csv(path: Path, summary: list[dict[str, Any]], prov: dict[str, Any],
              extra: tuple[str, ...] = ()) -> None:
    """Long format: one row per group x metric, with provenance on every row."""
    with path.open("w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow([*extra, "policy", "profile", "metric", "mean", "ci95_low", "ci95_high",
                    "runs", "n", "n_of", *PROV_KEYS])
        for row in summary:
            for name, _label, _unit in METRICS:
                mean, lo, hi = row[name]
                n_of = N_OF.get(name, "runs")
                n = row["runs"] if n_of == "runs" else row["n"][n_of]
                w.writerow([*(row[e] for e in extra), row["policy"], row["profile"], name,
                            _num(mean), _num(lo), _num(hi), row["runs"], n, n_of,
                            *(prov[k] for k in PROV_KEYS)])


def write_rows(path: Path, rows: list[dict[str, Any]]) -> None:
    """Plain CSV of dict rows (keys of the first row)."""
    with path.open("w", newline="") as f:
        if not rows:
            f.write("")
            return
        keys = [k for k in rows[0] if not k.startswith("_")]
        w = csv.DictWriter(f, fieldnames=keys, lineterminator="\n", extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: (_num(v) if isinstance(v, float) else v) for k, v in r.items()
                        if not k.startswith("_")})


def markdown(summary: list[dict[str, Any]], prov: dict[str, Any], title: str,
             extra: tuple[str, ...] = (), lead: list[str] | None = None) -> str:
    """Summary sentences, provenance, definitions and the main table (with n)."""
    lines = [f"# {title}", ""]
    if lead:
        lines += ["## Summary", "", *lead, ""]
    lines += [f"- {k}: `{prov[k]}`" for k in prov]
    lines += ["", "## Definitions", ""] + [f"- {d}" for d in sections.DEFINITIONS] + [""]
    head = [*extra, "policy", "profile", "runs", "n tries", "n uses", "n diversions"]
    head += [label for _n, label, _u in METRICS]
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + "---|" * len(head))
    for row in summary:
        cells = [str(row[e]) for e in extra] + [row["policy"], row["profile"],
                                                str(row["runs"])]
        cells += [str(row["n"][k]) for k in N_KEYS]
        cells += [fmt(n, row[n]) for n, _l, _u in METRICS]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def html_report(summary: list[dict[str, Any]], prov: dict[str, Any], title: str,
                extra: tuple[str, ...] = (), kinds: list[dict[str, Any]] | None = None,
                lead: list[str] | None = None, secs: list[Any] | None = None,
                zones: list[dict[str, Any]] | None = None) -> str:
    """Self-contained HTML: provenance, table, and one bar chart (95 % CI) per metric."""
    e = html.escape
    body = []
    for row in summary:
        cells = [row[x] for x in extra] + [row["policy"], row["profile"], row["runs"]]
        cells += [row["n"][k] for k in N_KEYS]
        cells += [fmt(n, row[n]) for n, _l, _u in METRICS]
        body.append("<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in cells) + "</tr>")
    head = [*extra, "policy", "profile", "runs", "n tries", "n uses", "n diversions"]
    head += [label for _n, label, _u in METRICS]
    summ = "".join(f"<p><b>{e(t)}</b></p>" for t in lead or [])
    defs = "<ul>" + "".join(f"<li>{e(d)}</li>" for d in sections.DEFINITIONS) + "</ul>"
    more = "".join(sections.to_html(x) for x in secs or [])
    labelled = [dict(r, policy=" ".join(f"{x}={r[x]}" for x in extra) + " " + r["policy"]
                     if extra else r["policy"]) for r in summary]
    plots = [(label, charts.bars(labelled, n, label, unit)) for n, label, unit in METRICS]
    if summary and not extra:
        plots.insert(0, ("Pareto", charts.pareto(summary)))
    if zones:
        plots.insert(0, ("zones", charts.zone_map(zones)))
    if extra:
        plots = [(label, charts.sweep_lines(summary, extra[0], n, label, unit))
                 for n, label, unit in METRICS]
    imgs = "".join(f'<figure><img alt="{e(lbl)}" src="data:image/png;base64,{b64}">'
                   f"</figure>" for lbl, b64 in plots)
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{e(title)}</title><style>body{{font-family:sans-serif;margin:2em}}"
        "table{border-collapse:collapse;font-size:12px}td,th{border:1px solid #ccc;"
        "padding:3px 6px}figure{display:inline-block;margin:4px}</style></head><body>"
        f"<h1>{e(title)}</h1>{summ}<pre>{e(json.dumps(prov, indent=1))}</pre>{defs}"
        "<p>Estimate [95 % interval]. Blue: fail-secure, orange: fail-enabled, "
        "grey: no lock.</p>"
        "<table><tr>" + "".join(f"<th>{e(h)}</th>" for h in head) + "</tr>"
        + "".join(body) + "</table>" + more + _kinds_html(kinds or []) + imgs
        + "</body></html>\n")


def _kinds_html(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return ""
    e = html.escape
    body = "".join(f"<tr><td>{e(r['policy'])}</td><td>{e(r['profile'])}</td>"
                   f"<td>{e(r['kind'])}</td><td>{r['n']}</td>"
                   f"<td>{r['usable_1d_pct']:.0f}</td></tr>" for r in rows)
    return ("<h2>Usable after 1 d by adversary kind (pooled over runs)</h2><table><tr>"
            "<th>policy</th><th>profile</th><th>kind</th><th>n</th><th>usable 1 d %</th>"
            "</tr>" + body + "</table>")


def by_kind(diversions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Share usable after 1 d per (policy, profile, adversary kind), pooled over runs."""
    groups: dict[tuple[str, str, str], list[int]] = {}
    for d in diversions:
        groups.setdefault((d["policy"], d["profile"], d["kind"]), []).append(
            int(d["usable_86400s"]))
    return [{"policy": p, "profile": f, "kind": k, "n": len(v),
             "usable_1d_pct": 100.0 * sum(v) / len(v)} for (p, f, k), v in sorted(groups.items())]


def kind_markdown(rows: list[dict[str, Any]]) -> str:
    """Markdown table: usable after 1 d by adversary kind (columns)."""
    kinds = sorted({r["kind"] for r in rows})
    cells: dict[tuple[str, str], dict[str, str]] = {}
    for r in rows:
        cells.setdefault((r["policy"], r["profile"]), {})[r["kind"]] = (
            f"{r['usable_1d_pct']:.0f} % (n={r['n']})")
    lines = ["", "## Usable after 1 d by adversary kind (pooled over runs)", "",
             "| policy | profile | " + " | ".join(kinds) + " |",
             "|" + "---|" * (len(kinds) + 2)]
    for (pol, prof), row in cells.items():
        lines.append(f"| {pol} | {prof} | " + " | ".join(row.get(k, "-") for k in kinds) + " |")
    return "\n".join(lines) + "\n"


def precision_sentence(check: dict[str, Any] | None) -> list[str]:
    """What precision mode achieved (nothing without it)."""
    if not check:
        return []
    widest = (f"widest: {check['worst_metric']} of {check['worst_policy']} / "
              f"{check['worst_profile']}, half-width {check['worst_half_width']:.3f}")
    if check["met"]:
        return [f"Precision target {check['target']} met after {check['runs']} runs "
                f"({widest})."]
    return [f"Precision target {check['target']} NOT met: stopped at the cap of "
            f"{check['max_runs']} runs ({widest})."]


def write_all(out: Path, result: Any, baseline: str | None = None) -> dict[str, Path]:
    """Write summary.csv, runs.csv, diversions.csv, headline.csv, summary.md, report.html,
    meta.json.

    The report pairs every policy against no lock and, if given, against `baseline`."""
    out.mkdir(parents=True, exist_ok=True)
    prov = result.provenance()
    summary = summarize(result.rows)
    title = f"armlock simulation: {result.scenario}"
    paths = {name: out / name for name in ("summary.csv", "runs.csv", "diversions.csv",
                                           "headline.csv", "summary.md", "report.html",
                                           "meta.json")}
    write_csv(paths["summary.csv"], summary, prov)
    tag = {k: prov[k] for k in PROV_KEYS}
    write_rows(paths["runs.csv"], [{**r, **tag} for r in result.rows])
    write_rows(paths["diversions.csv"], [{**r, **tag} for r in result.diversions])
    kinds = by_kind(result.diversions)
    pairs = paired(summary, result.diversions, result.real_rate, rows=result.rows)
    lead = sentences(summary, pairs) + precision_sentence(result.precision)
    figures = sections.headline(summary, pairs, result.diversions)
    write_rows(paths["headline.csv"], [{**f, **tag} for f in figures])
    secs = [sections.headline_section(figures), sections.paired_section(pairs)]
    if baseline and baseline != "none":
        secs.append(sections.paired_section(
            paired(summary, result.diversions, result.real_rate, baseline, result.rows),
            baseline))
    secs += [sections.tier_section(result.diversions),
            sections.causes_section(result.rows), sections.cost_section(summary)]
    paths["summary.md"].write_text(markdown(summary, prov, title, lead=lead)
                                   + "".join(sections.to_markdown(x) for x in secs)
                                   + kind_markdown(kinds))
    paths["report.html"].write_text(html_report(summary, prov, title, kinds=kinds,
                                                lead=lead, secs=secs, zones=result.zones))
    paths["meta.json"].write_text(json.dumps(prov, indent=1, sort_keys=True) + "\n")
    return paths
