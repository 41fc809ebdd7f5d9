"""The results explorer: one self-contained HTML page (reports/explorer.html) over every row, that
works offline with no server. Filter the rows by task, model, method, precision, device, seed and
mode; sort the table by any column; plot any two numeric columns against each other with the
Pareto front of the filtered rows drawn (each axis knows which way is better); download the
filtered rows as CSV. The scatter is plotly's: its JavaScript bundle is written once beside the
page (reports/plotly.min.js, the same bytes for a given plotly release, so regenerating the page
does not store the bundle again); the page's own script only filters, sorts and hands plotly
the points.
"""

from __future__ import annotations

import html
import json

import pandas as pd

FILTERS = ["task", "model", "method_label", "precision", "device", "seed", "mode", "status"]
NUMERIC = ["score", "eval_answer_loss", "forgetting_loss_delta", "params_trainable", "pct_trainable", "params_added",
           "pct_changed", "train_examples_per_s", "train_tokens_per_s", "train_wall_s", "run_wall_s",
           "train_hours_per_epoch", "peak_gpu_mem_allocated_bytes", "peak_gpu_mem_reserved_bytes",
           "peak_cpu_rss_train_bytes", "predicted_mem_reserved_bytes", "predicted_tokens_per_s",
           "predicted_hours_per_epoch", "gpu_energy_j", "energy_j_per_1k_train_tokens", "latency_adapted_ms",
           "mfu"]
TEXT = ["device_name", "timestamp_utc", "run_id"]
# higher is better for these; lower for every other numeric column (memory, time, parameters, loss)
HIGHER_IS_BETTER = ("score", "metric_", "_per_s", "mfu")
DEFAULT_AXES = ("pct_trainable", "score")


def better(column: str) -> str:
    return "max" if any(k in column for k in HIGHER_IS_BETTER) else "min"


def pareto(points: list[tuple[float, float]], x_better: str, y_better: str) -> list[tuple[float, float]]:
    """The points no other point beats on both axes (each in its better direction), sorted by x;
    the same rule as the page's script, here for tests and for the initial figure."""
    sx, sy = (1 if x_better == "max" else -1), (1 if y_better == "max" else -1)
    front = [p for p in points
             if not any(sx * q[0] >= sx * p[0] and sy * q[1] >= sy * p[1] and q != p for q in points)]
    return sorted(set(front))


def _records(df: pd.DataFrame) -> tuple[list[str], list[list]]:
    columns = [c for c in FILTERS + NUMERIC + TEXT if c in df and (c in FILTERS or df[c].notna().any())]
    frame = df[columns].astype(object).where(df[columns].notna(), None)
    return columns, frame.values.tolist()


def _script_json(value) -> str:
    """JSON that cannot close the <script> element it sits in."""
    return json.dumps(value, default=str).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


PAGE_SCRIPT = r"""
const filters = FILTERS.filter(c => COLUMNS.includes(c));
const numeric = NUMERIC.filter(c => COLUMNS.includes(c));
const col = Object.fromEntries(COLUMNS.map((c, i) => [c, i]));
let sortBy = null, sortDir = 1, shown = ROWS;
const better = c => HIGHER.some(k => c.includes(k)) ? 'max' : 'min';
function selected() { return Object.fromEntries(filters.map(c => [c, document.getElementById('f-' + c).value])); }
function apply() {
  const f = selected();
  shown = ROWS.filter(r => filters.every(c => f[c] === '' || String(r[col[c]]) === f[c]));
  if (sortBy !== null) shown = [...shown].sort((a, b) => {
    const x = a[col[sortBy]], y = b[col[sortBy]];
    if (x === null) return 1; if (y === null) return -1;
    return (x < y ? -1 : x > y ? 1 : 0) * sortDir; });
  document.getElementById('count').textContent = shown.length + ' of ' + ROWS.length + ' rows';
  const body = document.querySelector('#rows tbody'); body.replaceChildren();
  for (const r of shown.slice(0, 500)) {
    const tr = document.createElement('tr');
    for (const v of r) { const td = document.createElement('td'); td.textContent = v === null ? '' :
      (typeof v === 'number' && !Number.isInteger(v) ? v.toPrecision(4) : v); tr.appendChild(td); }
    body.appendChild(tr); }
  draw();
}
function front(points, bx, by) {
  const sx = bx === 'max' ? 1 : -1, sy = by === 'max' ? 1 : -1;
  return points.filter(p => !points.some(q => sx * q[0] >= sx * p[0] && sy * q[1] >= sy * p[1] &&
                                              (q[0] !== p[0] || q[1] !== p[1]))).sort((a, b) => a[0] - b[0]);
}
function draw() {
  const x = document.getElementById('x').value, y = document.getElementById('y').value;
  const pts = shown.filter(r => r[col[x]] !== null && r[col[y]] !== null)
                   .map(r => [r[col[x]], r[col[y]], [r[col.model], r[col.method_label], r[col.task]].join(' · ')]);
  const f = front(pts, better(x), better(y));
  Plotly.react('scatter', [
    {x: pts.map(p => p[0]), y: pts.map(p => p[1]), text: pts.map(p => p[2]), mode: 'markers', type: 'scatter',
     name: 'runs', marker: {size: 7, opacity: 0.7}},
    {x: f.map(p => p[0]), y: f.map(p => p[1]), mode: 'lines+markers', type: 'scatter', name: 'Pareto front',
     line: {color: 'crimson'}}],
    {xaxis: {title: {text: x + ' (' + (better(x) === 'max' ? 'higher' : 'lower') + ' is better)'}},
     yaxis: {title: {text: y + ' (' + (better(y) === 'max' ? 'higher' : 'lower') + ' is better)'}},
     margin: {t: 20}, height: 460});
  document.getElementById('scatter').dataset.points = pts.length;
  document.getElementById('scatter').dataset.axes = x + ',' + y;
}
function csv() {
  const q = v => v === null ? '' : /[",\n]/.test(String(v)) ? '"' + String(v).replace(/"/g, '""') + '"' : String(v);
  const text = [COLUMNS.map(q).join(',')].concat(shown.map(r => r.map(q).join(','))).join('\n');
  const a = document.createElement('a');
  a.href = URL.createObjectURL(new Blob([text], {type: 'text/csv'})); a.download = 'peft-bench-rows.csv'; a.click();
}
for (const c of filters) {
  const s = document.getElementById('f-' + c);
  for (const v of [...new Set(ROWS.map(r => r[col[c]]).filter(v => v !== null).map(String))].sort()) {
    const o = document.createElement('option'); o.value = v; o.textContent = v; s.appendChild(o); }
  s.addEventListener('change', apply);
}
for (const id of ['x', 'y']) {
  const s = document.getElementById(id);
  for (const c of numeric) { const o = document.createElement('option'); o.value = c; o.textContent = c; s.appendChild(o); }
  s.value = DEFAULTS[id === 'x' ? 0 : 1]; s.addEventListener('change', draw);
}
document.querySelectorAll('#rows th').forEach(th => th.addEventListener('click', () => {
  sortDir = sortBy === th.dataset.col ? -sortDir : 1; sortBy = th.dataset.col; apply(); }));
document.getElementById('csv').addEventListener('click', csv);
apply();
"""


BUNDLE = "plotly.min.js"


def bundle() -> str:
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


def page(df: pd.DataFrame) -> str:
    columns, rows = _records(df)
    e = html.escape
    selects = "".join(f"<label>{e(c)} <select id='f-{e(c)}'><option value=''>all</option></select></label> "
                      for c in FILTERS if c in columns)
    heads = "".join(f"<th data-col='{e(c)}'>{e(c)}</th>" for c in columns)
    constants = (f"const COLUMNS = {_script_json(columns)}; const ROWS = {_script_json(rows)}; "
                 f"const FILTERS = {_script_json(FILTERS)}; const NUMERIC = {_script_json(NUMERIC)}; "
                 f"const HIGHER = {_script_json(list(HIGHER_IS_BETTER))}; const DEFAULTS = {_script_json(list(DEFAULT_AXES))};")
    css = ("body{font-family:system-ui,sans-serif;margin:1.5em}label{margin-right:.8em;font-size:90%}"
           "table{border-collapse:collapse;font-size:80%}td,th{border:1px solid #ccc;padding:2px 5px}"
           "th{background:#f4f4f4;cursor:pointer}.wrap{overflow:auto;max-height:480px;max-width:100%}")
    return ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>peft-bench results explorer</title>"
            f"<style>{css}</style><script src='{BUNDLE}'></script></head><body>"
            "<h1>Results explorer</h1><p>Every row of the results folder. Filter, sort (click a column), plot any "
            "two numeric columns with the Pareto front of the filtered rows, and download them as CSV. The table "
            "shows the first 500 filtered rows; the plot and the CSV use all of them.</p>"
            f"<p>{selects}</p><p><span id='count'></span> <button id='csv'>Download CSV</button></p>"
            "<p><label>x <select id='x'></select></label><label>y <select id='y'></select></label></p>"
            "<div id='scatter'></div>"
            f"<div class='wrap'><table id='rows'><thead><tr>{heads}</tr></thead><tbody></tbody></table></div>"
            f"<script>{constants}{PAGE_SCRIPT}</script></body></html>")
