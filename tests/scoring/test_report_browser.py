"""The HTML report in a real headless browser (Debian's `chromium`, installed by scripts/setup.sh):
it renders, shows both frameworks' leaderboards and profiles and their plots, and logs no console
error."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from scoring.leaderboard import score_frameworks
from scoring.report import write_report
from scoring.tables import load_results

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="needs Debian's chromium: run scripts/setup.sh (apt-get install chromium)")

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--enable-logging=stderr", "--v=0", "--virtual-time-budget=5000"]
# Appended to a copy of the report: after load it writes, into the DOM, every image's natural
# width (0 = the image did not decode) and the page's height.
PROBE = ("<script>window.addEventListener('load', () => { const p = document.createElement('pre');"
         " p.id = 'probe'; p.textContent = 'widths=' + Array.from(document.images, i => i.naturalWidth)"
         ".join(',') + ' height=' + document.body.scrollHeight; document.body.appendChild(p); });</script>")


def browse(page: Path, tmp: Path, *extra: str) -> tuple[str, list[str]]:
    """(the DOM after load, the console lines chromium logged) for a local page."""
    done = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp / 'profile'}", *extra,
                           page.resolve().as_uri()], capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
    return done.stdout, console


def probe(report: Path, tmp: Path) -> tuple[str, list[str]]:
    probed = report.with_name("probed.html")
    probed.write_text(report.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"),
                      encoding="utf-8")
    return browse(probed, tmp, "--dump-dom")


def test_console_errors_are_detected(tmp_path):
    # The detector itself: a page with a broken script must show up as a console line.
    page = tmp_path / "broken.html"
    page.write_text("<!DOCTYPE html><html><body><p>x</p><script>notDefined();</script></body></html>")
    _, console = browse(page, tmp_path, "--dump-dom")
    assert any("notDefined" in line for line in console)


@pytest.fixture
def report(tmp_path, time_writer):
    root = tmp_path / "results"
    for study in range(2):
        for framework, scale in (("pytorch", 1.0), ("jax", 5.0)):
            time_writer(root, "nadamw", "mlp", study, scale * (10.0 + study), framework=framework)
            time_writer(root, "my_sgd", "mlp", study, scale * (12.0 + study), framework=framework)
    boards = score_frameworks(load_results([root]), n_bootstrap=50)
    return write_report(boards, tmp_path / "report")


def test_report_renders_leaderboards_and_profiles_without_console_errors(tmp_path, report):
    dom, console = probe(report, tmp_path)
    assert console == [], console
    assert "<h3>Leaderboard</h3>" in dom and "<h3>Performance profile</h3>" in dom
    assert "pytorch entries" in dom and "jax entries" in dom
    assert 'alt="performance profiles, pytorch"' in dom and 'alt="performance profiles, jax"' in dom
    widths = re.search(r"widths=([\d,]*) height=(\d+)", dom)
    assert widths, "the probe did not run: the page did not finish loading"
    sizes = [int(w) for w in widths.group(1).split(",")]
    assert len(sizes) == 4 and all(w > 100 for w in sizes), sizes  # 2 profiles + 2 curve plots decoded
    assert int(widths.group(2)) > 1000


def test_report_screenshot_is_drawn(tmp_path, report):
    shot = tmp_path / "report.png"
    _, console = browse(report, tmp_path, f"--screenshot={shot}", "--window-size=1280,2400")
    assert console == [], console
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000  # a drawn page, not a blank one
