#!/usr/bin/env python3
"""Draws a Grafana dashboard's panels from a live Prometheus, without Grafana.

Every panel query of the dashboard JSON runs against Prometheus's HTTP API (range queries for
time series and state timelines, instant queries for bar gauges, tables and stats), with the
template variables set to "All" the way Grafana does it, and is drawn with matplotlib on the
dashboard's own grid. It is what makes docs/dashboard.png (see scripts/dashboard-picture.sh);
it needs only the Python standard library and matplotlib.

    python3 scripts/render-dashboard.py --prometheus http://127.0.0.1:9090 \
        --dashboard dashboards/huaweicloud-quota.json --range 1200 --out docs/dashboard.png
"""

import argparse
import json
import re
import time
import urllib.parse
import urllib.request

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
from datetime import datetime  # noqa: E402

BG, PANEL, TEXT, DIM, GRID = "#111217", "#181b1f", "#ccccdc", "#8e8e9e", "#2c3235"
PALETTE = ["#73bf69", "#f2cc0c", "#8ab8ff", "#ff780a", "#f2495c", "#5794f2", "#b877d9",
           "#705da0", "#37872d", "#fade2a", "#447ebc", "#c15c17", "#890f02", "#0a437c"]
COLORS = {"green": "#73bf69", "orange": "#ff9830", "red": "#f2495c", "text": TEXT,
          "yellow": "#fade2a", "blue": "#5794f2"}


def api(base, path, **params):
    url = f"{base}{path}?{urllib.parse.urlencode(params, doseq=True)}"
    with urllib.request.urlopen(url, timeout=30) as r:
        body = json.load(r)
    if body.get("status") != "success":
        raise RuntimeError(f"{path} {params}: {body}")
    return body["data"]


def grafana_regex_escape(value):
    """As Grafana escapes a multi-value variable's values inside a PromQL regex string."""
    value = value.replace("\\", "\\\\\\\\")
    return re.sub(r"([$^*{}\[\]'+?.()|])", r"\\\\\1", value)


def resolve_variables(base, dash):
    """Every query variable set to All: its allValue, or the alternation of its values."""
    values = {}

    def subst(q):
        for k, v in values.items():
            q = q.replace(f"${k}", v)
        return q

    for v in dash["templating"]["list"]:
        if v["type"] != "query":
            continue
        query = v["query"] if isinstance(v["query"], str) else v["query"]["query"]
        if v.get("allValue"):
            values[v["name"]] = v["allValue"]
            continue
        m = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", subst(query), re.S)
        if not m:
            raise ValueError(f"unsupported variable query {query}")
        found = api(base, f"/api/v1/label/{m.group(2)}/values", **{"match[]": m.group(1)})
        values[v["name"]] = "(" + "|".join(grafana_regex_escape(x) for x in found) + ")"
    return values


def expand(expr, values, rate_interval):
    for k in sorted(values, key=len, reverse=True):
        expr = expr.replace(f"${k}", values[k])
    expr = expr.replace("$__rate_interval", rate_interval)
    if "$" in expr:
        raise ValueError(f"unexpanded variable in {expr}")
    return expr


def legend(fmt, labels):
    if not fmt or fmt == "__auto":
        return ", ".join(f"{k}={v}" for k, v in sorted(labels.items()) if k != "__name__") or "value"
    text = re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: labels.get(m.group(1), ""), fmt)
    return re.sub(r"\s+", " ", text).strip()


def short(text, n=46):
    return text if len(text) <= n else text[: n - 1] + "…"


def fmt_value(v, unit, decimals=None):
    if v != v:
        return "NaN"
    if unit == "percentunit":
        return f"{v * 100:.{1 if decimals is None else decimals}f}%"
    if unit == "s":
        for div, name in ((86400, "day"), (3600, "hour"), (60, "min")):
            if abs(v) >= div:
                return f"{v / div:.1f} {name}"
        return f"{v:.3g} s" if v < 1 else f"{v:.1f} s"
    if unit == "reqps":
        return f"{v:.3g} req/s"
    if decimals is not None:
        return f"{v:.{decimals}f}"
    return f"{v:g}"


def threshold_color(v, field):
    steps = field.get("thresholds", {}).get("steps", [])
    color = TEXT
    for s in steps:
        if s["value"] is None or v >= s["value"]:
            color = COLORS.get(s["color"], s["color"])
    return color


def mapped(v, field):
    for m in field.get("mappings", []):
        opt = m.get("options", {}).get(str(int(v)) if v == int(v) else str(v))
        if opt:
            return opt.get("text", fmt_value(v, None)), COLORS.get(opt.get("color"), TEXT)
    return None


def style_axes(ax, title):
    ax.set_facecolor(PANEL)
    for s in ax.spines.values():
        s.set_color(GRID)
    ax.tick_params(colors=DIM, labelsize=6)
    ax.set_title(title, color=TEXT, fontsize=8, loc="left", fontweight="bold", pad=4)


def draw_timeseries(ax, panel, results, unit, field, start, end):
    i = 0
    for target, series in results:
        for s in series:
            xs = [datetime.fromtimestamp(float(t)) for t, _ in s["values"]]
            ys = [float(v) for _, v in s["values"]]
            ax.plot(xs, ys, lw=1.2, color=PALETTE[i % len(PALETTE)],
                    label=short(legend(target.get("legendFormat"), s["metric"])))
            i += 1
    style = field.get("custom", {}).get("thresholdsStyle", {}).get("mode", "off")
    if style != "off":
        for s in field.get("thresholds", {}).get("steps", []):
            if s["value"] is not None:
                ax.axhline(s["value"], color=COLORS.get(s["color"], s["color"]), ls="--", lw=0.8)
    if i == 0:
        ax.text(0.5, 0.5, f"No data ({field.get('noValue', 'none')})", color=DIM,
                ha="center", va="center", transform=ax.transAxes, fontsize=8)
    if "max" in field:
        ax.set_ylim(field.get("min", 0), field["max"] * 1.02)
    elif "min" in field:
        ax.set_ylim(bottom=field["min"])
    ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: fmt_value(v, unit, 0 if unit == "percentunit" else None)))
    ax.set_xlim(datetime.fromtimestamp(start), datetime.fromtimestamp(end))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M"))
    ax.grid(color=GRID, lw=0.5)
    if i:
        ax.legend(fontsize=5, loc="upper left", bbox_to_anchor=(1.0, 1.0) if panel["gridPos"]["w"] >= 12 else (0, 1),
                  frameon=False, labelcolor=TEXT, ncol=1)


def draw_state_timeline(ax, panel, results, field, start, end):
    rows = []
    for target, series in results:
        for s in series:
            rows.append((legend(target.get("legendFormat"), s["metric"]), s["values"]))
    rows.sort()
    for y, (name, values) in enumerate(rows):
        for (t0, v), nxt in zip(values, values[1:] + [None]):
            t1 = float(nxt[0]) if nxt else float(t0) + 5
            m = mapped(float(v), field)
            color = m[1] if m else threshold_color(float(v), field)
            ax.barh(y, (t1 - float(t0)) / 86400, left=mdates.date2num(datetime.fromtimestamp(float(t0))),
                    height=0.8, color=color, edgecolor="none")
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([short(r[0], 40) for r in rows], fontsize=5, color=TEXT)
    ax.invert_yaxis()
    ax.xaxis_date()
    ax.set_xlim(datetime.fromtimestamp(start), datetime.fromtimestamp(end))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M"))


def draw_bargauge(ax, panel, results, unit, field):
    bars = []
    for target, series in results:
        for s in series:
            bars.append((legend(target.get("legendFormat"), s["metric"]), float(s["value"][1])))
    lo, hi = field.get("min", 0), field.get("max", max([b[1] for b in bars] + [1]))
    ax.set_xlim(0, 1)
    ax.set_ylim(len(bars) - 0.5 if bars else 0.5, -0.5)
    ax.axis("off")
    ax.set_facecolor(PANEL)
    for y, (name, v) in enumerate(bars):
        frac = max(0.0, min(1.0, (v - lo) / (hi - lo))) if hi > lo else 0
        color = threshold_color(v, field)
        ax.barh(y, 0.62, left=0.3, height=0.62, color=GRID)
        ax.barh(y, 0.62 * frac, left=0.3, height=0.62, color=color)
        ax.text(0.29, y, short(name, 44), ha="right", va="center", fontsize=5.5, color=TEXT)
        ax.text(0.935, y, fmt_value(v, unit, field.get("decimals")), ha="left", va="center", fontsize=6, color=color)
    if not bars:
        ax.text(0.5, 0.5, "No data", color=DIM, ha="center", va="center", fontsize=8)


def draw_table(ax, panel, results):
    """Grafana's merge + organize transformations, then a plain table."""
    rows = {}
    columns = []
    for target, series in results:
        for s in series:
            labels = {k: v for k, v in s["metric"].items() if k != "__name__"}
            key = tuple(sorted(labels.items()))
            merged = None
            for k, row in rows.items():
                common = [c for c in labels if c in row]
                if common and all(row[c] == labels[c] for c in common) and f"Value #{target['refId']}" not in row:
                    merged = k
                    break
            row = rows.setdefault(merged or key, {})
            row.update(labels)
            row[f"Value #{target['refId']}"] = float(s["value"][1])
            for c in list(labels) + [f"Value #{target['refId']}"]:
                if c not in columns:
                    columns.append(c)
    org = next((t["options"] for t in panel.get("transformations", []) if t["id"] == "organize"), {})
    columns = [c for c in columns if not org.get("excludeByName", {}).get(c)]
    order = org.get("indexByName", {})
    columns.sort(key=lambda c: order.get(c, 99))
    names = [org.get("renameByName", {}).get(c, c) for c in columns]
    sort = next((t["options"]["sort"][0] for t in panel.get("transformations", []) if t["id"] == "sortBy"), None)
    table_rows = list(rows.values())
    if sort:
        col = next((c for c, n in zip(columns, names) if n == sort["field"]), None)
        if col:
            table_rows.sort(key=lambda r: r.get(col, float("-inf")), reverse=sort.get("desc", False))
    overrides = {o["matcher"]["options"]: {p["id"]: p["value"] for p in o["properties"]}
                 for o in panel.get("fieldConfig", {}).get("overrides", [])}
    cells = []
    for r in table_rows[:14]:
        line = []
        for c, n in zip(columns, names):
            v = r.get(c, "")
            if isinstance(v, float):
                o = overrides.get(n, {})
                v = fmt_value(v, o.get("unit"), o.get("decimals"))
            elif len(v) > 14 and re.fullmatch(r"[0-9a-f-]+", v):
                v = v[:8] + "…"
            line.append(v)
        cells.append(line)
    ax.axis("off")
    ax.set_facecolor(PANEL)
    if not cells:
        ax.text(0.5, 0.5, "No data", color=DIM, ha="center", va="center", fontsize=8)
        return
    t = ax.table(cellText=cells, colLabels=names, loc="upper center", cellLoc="left", colLoc="left")
    t.auto_set_font_size(False)
    t.set_fontsize(5.5)
    t.scale(1, 0.9)
    for (r, c), cell in t.get_celld().items():
        cell.set_edgecolor(GRID)
        cell.set_facecolor(PANEL if r else "#22252b")
        cell.get_text().set_color(TEXT)
        if r and names[c] == "Utilisation":
            cell.get_text().set_color(threshold_color(table_rows[r - 1][columns[c]], overrides["Utilisation"]))


def draw_stat(ax, panel, results, field):
    items = []
    for target, series in results:
        for s in series:
            v = float(s["value"][1])
            m = mapped(v, field)
            text, color = m if m else (fmt_value(v, field.get("unit"), field.get("decimals")), threshold_color(v, field))
            items.append((legend(target.get("legendFormat"), s["metric"]), text, color))
    ax.axis("off")
    ax.set_facecolor(PANEL)
    for i, (name, text, color) in enumerate(items[:6]):
        y = 1 - (i + 0.5) / max(len(items[:6]), 1)
        ax.text(0.05, y, short(name, 22), color=DIM, fontsize=6, va="center", transform=ax.transAxes)
        ax.text(0.95, y, text, color=color, fontsize=11, fontweight="bold", ha="right", va="center",
                transform=ax.transAxes)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prometheus", required=True)
    ap.add_argument("--dashboard", required=True)
    ap.add_argument("--range", type=float, default=3600, help="seconds of history for time series")
    ap.add_argument("--rate-interval", default="1m", help="what $__rate_interval stands for")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    dash = json.load(open(args.dashboard))
    values = resolve_variables(args.prometheus, dash)
    end = time.time()
    start = end - args.range
    step = max(1.0, args.range / 240)

    panels = dash["panels"]
    height = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in panels)
    unit_h = 0.36
    fig = plt.figure(figsize=(16, height * unit_h + 0.6), facecolor=BG)
    top = 0.6 / (height * unit_h + 0.6)
    fig.text(0.01, 1 - top / 2, f"{dash['title']}  ·  demo simulator, {int(args.range // 60)} min of data, "
             f"rendered from Prometheus by scripts/render-dashboard.py", color=TEXT, fontsize=10, va="center")

    def rect(g, pad_x=0.004, pad_top=0.018, pad_bottom=0.006):
        h_frac = (1 - top) / height
        x = g["x"] / 24 + pad_x
        w = g["w"] / 24 - 2 * pad_x
        y = (1 - top) - (g["y"] + g["h"]) * h_frac + pad_bottom
        return [x, y, w, g["h"] * h_frac - pad_top - pad_bottom]

    for p in panels:
        g = p["gridPos"]
        if p["type"] == "row":
            fig.text(g["x"] / 24 + 0.004, (1 - top) - (g["y"] + 0.5) * (1 - top) / height,
                     p["title"], color=TEXT, fontsize=9, fontweight="bold", va="center")
            continue
        field = p.get("fieldConfig", {}).get("defaults", {})
        unit = field.get("unit")
        results = []
        for t in p["targets"]:
            expr = expand(t["expr"], values, args.rate_interval)
            if t.get("instant") or p["type"] in ("bargauge", "table", "stat"):
                data = api(args.prometheus, "/api/v1/query", query=expr, time=end)
            else:
                data = api(args.prometheus, "/api/v1/query_range", query=expr, start=start, end=end, step=step)
            results.append((t, data["result"]))
        left_margin = 0.13 if p["type"] == "state-timeline" else 0.035
        r = rect(g)
        legend_space = 0.34 if p["type"] == "timeseries" and g["w"] >= 12 else 0
        ax = fig.add_axes([r[0] + left_margin * r[2] * 24 / g["w"], r[1] + 0.012, r[2] * (1 - legend_space) - left_margin * r[2] * 24 / g["w"], r[3] - 0.012])
        bg = fig.add_axes(r, zorder=-1)
        bg.set_facecolor(PANEL)
        bg.set_xticks([])
        bg.set_yticks([])
        for s in bg.spines.values():
            s.set_color(GRID)
        bg.set_title(p["title"], color=TEXT, fontsize=8, loc="left", fontweight="bold", pad=3)
        style_axes(ax, "")
        if p["type"] == "timeseries":
            draw_timeseries(ax, p, results, unit, field, start, end)
        elif p["type"] == "state-timeline":
            draw_state_timeline(ax, p, results, field, start, end)
        elif p["type"] == "bargauge":
            draw_bargauge(ax, p, results, unit, field)
        elif p["type"] == "table":
            draw_table(ax, p, results)
        elif p["type"] == "stat":
            draw_stat(ax, p, results, field)
        else:
            raise ValueError(f"panel type {p['type']} not supported")
    fig.savefig(args.out, dpi=110, facecolor=BG)


if __name__ == "__main__":
    main()
