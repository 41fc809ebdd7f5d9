"""The committed HTML reports in a real browser (headless Chromium): every page the index links
loads, no link is broken, every figure decodes, no table is wider than a 1280-pixel window,
and a screenshot of each page is not blank. Skips, saying why, where Chromium cannot be had
(`apt-get install chromium`; .ci/run installs it)."""

from __future__ import annotations

import html.parser
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO

REPORTS = REPO / "reports"
WIDTH, HEIGHT = 1280, 900
CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium on this machine (apt-get install chromium)")

# Runs in the page once it has loaded: what a reader would see go wrong, as JSON in a <pre>.
PROBE = """<script>
window.addEventListener('load', () => {
  const width = document.documentElement.clientWidth;
  const out = {
    width: width,
    page_scroll_width: document.documentElement.scrollWidth,
    broken_images: [...document.images].filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.alt),
    images: document.images.length,
    wide_tables: [...document.querySelectorAll('table')].map((t, k) => [k, Math.ceil(t.getBoundingClientRect().right)])
                   .filter(([k, right]) => right > width),
    tables: document.querySelectorAll('table').length,
    // the main table (the first one not folded away): columns whose every body cell is empty or '—'
    empty_main_columns: (() => {
      const t = [...document.querySelectorAll('table')].find(t => !t.closest('details'));
      if (!t) return [];
      const heads = [...t.querySelectorAll('thead th')].map(th => th.textContent);
      const rows = [...t.querySelectorAll('tbody tr')].map(tr => [...tr.children].map(td => td.textContent.trim()));
      return rows.length ? heads.filter((h, i) => rows.every(r => !r[i] || r[i].startsWith('—'))) : [];
    })(),
  };
  const pre = document.createElement('pre'); pre.id = 'probe'; pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>"""


def chromium(*args: str, profile: Path) -> subprocess.CompletedProcess:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--hide-scrollbars", f"--user-data-dir={profile}", f"--window-size={WIDTH},{HEIGHT}"]
    return subprocess.run([CHROMIUM, *flags, *args], capture_output=True, text=True, timeout=120)


class Links(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self.hrefs += [v for k, v in attrs if k == "href" and v]


def linked(page: Path) -> list[str]:
    parser = Links()
    parser.feed(page.read_text())
    return parser.hrefs


def pages() -> list[Path]:
    """The index and the report pages it links (the explorer has its own test below)."""
    index = REPORTS / "index.html"
    return [index] + [REPORTS / h for h in linked(index) if h.endswith(".html") and h != "explorer.html"]


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """A copy of reports/ with the probe in every page (the committed files stay as they are)."""
    root = tmp_path_factory.mktemp("site")
    shutil.copytree(REPORTS, root / "reports")
    for page in (root / "reports").glob("*.html"):
        page.write_text(page.read_text().replace("</body>", PROBE + "</body>"))
    return root / "reports"


def test_the_index_links_every_report_and_each_link_resolves():
    hrefs = linked(REPORTS / "index.html")
    assert len([h for h in hrefs if h.endswith(".html")]) >= 5
    for page in pages():
        for href in linked(page):
            if "://" in href or href.startswith(("#", "mailto:")):
                continue
            assert (page.parent / href.split("#")[0]).is_file(), f"{page.name}: broken link {href}"


@pytest.mark.parametrize("name", [p.name for p in pages()])
def test_each_page_renders_with_its_figures_and_fits_the_window(site, tmp_path, name):
    out = chromium("--virtual-time-budget=10000", "--dump-dom", (site / name).as_uri(), profile=tmp_path / "profile")
    assert out.returncode == 0, out.stderr[-1000:]
    start = out.stdout.find('<pre id="probe">')
    assert start >= 0, f"{name}: the page did not finish loading"
    probe = json.loads(html.unescape(out.stdout[start + len('<pre id="probe">'):out.stdout.index("</pre>", start)]))
    assert probe["broken_images"] == [], f"{name}: figures that did not load: {probe['broken_images']}"
    assert probe["wide_tables"] == [], f"{name}: tables wider than {probe['width']} px: {probe['wide_tables']}"
    assert probe["page_scroll_width"] <= probe["width"], f"{name}: the page scrolls sideways"
    if name != "index.html":
        assert probe["tables"] >= 1
        assert probe["empty_main_columns"] == [], f"{name}: main-table columns with no data: {probe['empty_main_columns']}"


@pytest.mark.parametrize("name", [p.name for p in pages()])
def test_a_screenshot_of_each_page_shows_it(site, tmp_path, name):
    import matplotlib.image

    shot = tmp_path / f"{name}.png"
    out = chromium(f"--screenshot={shot}", (site / name).as_uri(), profile=tmp_path / "profile")
    assert out.returncode == 0 and shot.is_file(), out.stderr[-1000:]
    pixels = matplotlib.image.imread(shot)
    assert pixels.shape[:2] == (HEIGHT, WIDTH)
    assert pixels[..., :3].std() > 0.02, f"{name}: the screenshot is blank"


EXPLORER_PROBE = """<script>
window.addEventListener('load', () => {
  const count = () => document.getElementById('count').textContent;
  const out = {before: count(), axes_before: document.getElementById('scatter').dataset.axes,
               plotted: document.querySelectorAll('#scatter .main-svg').length};
  const f = document.getElementById('f-mode');
  f.value = 'train'; f.dispatchEvent(new Event('change'));
  out.after = count(); out.table_rows = document.querySelectorAll('#rows tbody tr').length;
  const x = document.getElementById('x');
  x.value = 'train_examples_per_s'; x.dispatchEvent(new Event('change'));
  out.axes_after = document.getElementById('scatter').dataset.axes;
  const graph = document.getElementById('scatter');
  out.traces = graph.data.map(t => t.name); out.points = graph.data[0].x.length;
  out.front_points = graph.data[1].x.length;
  out.svg = graph.querySelectorAll('.main-svg').length;
  const pre = document.createElement('pre'); pre.id = 'xprobe'; pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>"""


def test_the_explorer_filters_rows_and_redraws_the_chosen_axes(site, tmp_path):
    page = site / "explorer.html"
    page.write_text(page.read_text().replace("</body>", EXPLORER_PROBE + "</body>"))
    out = chromium("--virtual-time-budget=20000", "--dump-dom", page.as_uri(), profile=tmp_path / "profile")
    start = out.stdout.find('<pre id="xprobe">')
    assert start >= 0, f"the explorer did not finish loading: {out.stderr[-1000:]}"
    probe = json.loads(html.unescape(out.stdout[start + len('<pre id="xprobe">'):out.stdout.index("</pre>", start)]))
    total = int(probe["before"].split(" of ")[1].split()[0])
    assert probe["before"].startswith(f"{total} of ") and probe["plotted"] >= 1
    assert int(probe["after"].split()[0]) < total and probe["table_rows"] == min(int(probe["after"].split()[0]), 500)
    assert (probe["axes_before"], probe["axes_after"]) == ("pct_trainable,score", "train_examples_per_s,score")
    assert probe["traces"] == ["runs", "Pareto front"] and 1 <= probe["front_points"] < probe["points"] and probe["svg"] >= 1
