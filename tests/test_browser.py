"""Open every page of the built book in headless Chromium: no JavaScript console error, every
plotly figure drawn, no executed cell showing an error, no request leaving the machine.
Screenshots go to <html>/../screenshots/. Needs a built book (make book-quick) and Debian's
chromium + chromium-driver; skipped without them unless EQLIB_REQUIRE_BROWSER=1."""
import functools
import http.server
import os
import shutil
import socketserver
import threading
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parent.parent
CANDIDATES = [ROOT / "_build" / "quick" / "_build" / "html", ROOT / "_build" / "html"]
REQUIRED = os.environ.get("EQLIB_REQUIRE_BROWSER") == "1"


def _html_dir():
    if os.environ.get("EQLIB_BOOK_HTML"):          # e.g. _build/html to check the full build
        return Path(os.environ["EQLIB_BOOK_HTML"]).resolve()
    for d in CANDIDATES:
        if (d / "index.html").exists():
            return d
    return None


def _need(ok, why):
    if not ok:
        if REQUIRED:
            pytest.fail(why)
        pytest.skip(why)


@pytest.fixture(scope="module")
def site():
    html = _html_dir()
    _need(html is not None, "no built book: run `make book-quick` first")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(html))
    handler.func.log_message = lambda *a: None
    with socketserver.TCPServer(("127.0.0.1", 0), handler) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        yield html, f"http://127.0.0.1:{server.server_address[1]}"
        server.shutdown()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    _need(chromium and driver, "Debian's chromium and chromium-driver are not installed")
    os.environ["SE_OFFLINE"] = "true"            # selenium must not fetch a driver
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-quic", "--window-size=1400,2000",
                "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
                f"--user-data-dir={tmp_path_factory.mktemp('chromium')}"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    d = webdriver.Chrome(service=Service(driver), options=opts)
    d.set_page_load_timeout(60)
    yield d
    d.quit()


def pages(html):
    return sorted(p.relative_to(html).as_posix() for p in html.rglob("*.html")
                  if not p.relative_to(html).as_posix().startswith(("_static", "_sources", "_images")))


def test_every_page_renders_offline(site, browser):
    html, base = site
    shots = html.parent / "screenshots"
    shots.mkdir(exist_ok=True)
    problems, figures = [], 0
    for page in pages(html):
        browser.get(f"{base}/{page}")
        browser.execute_script("return document.readyState")
        drawn = browser.execute_script(
            "return Array.from(document.querySelectorAll('.plotly-graph-div')).map("
            "d => d.querySelector('.main-svg') !== null)")
        figures += len(drawn)
        if not all(drawn):
            problems.append(f"{page}: {drawn.count(False)} of {len(drawn)} plotly figures not drawn")
        if browser.find_elements("css selector", ".output.traceback, .output.error, div.cell_output .traceback"):
            problems.append(f"{page}: an executed cell shows an error")
        external = browser.execute_script(
            "return performance.getEntriesByType('resource').map(r => r.name)"
            ".filter(n => !n.startsWith(location.origin) && !n.startsWith('data:'))")
        if external:
            problems.append(f"{page}: requests leaving the machine: {external[:3]}")
        for entry in browser.get_log("browser"):
            if entry["level"] == "SEVERE":
                problems.append(f"{page}: console error: {entry['message'][:200]}")
        height = browser.execute_script("return document.documentElement.scrollHeight")
        browser.set_window_size(1400, min(max(height, 900), 12000))     # the whole page, figures included
        browser.save_screenshot(str(shots / (page.replace("/", "__").replace(".html", ".png"))))
        browser.set_window_size(1400, 2000)
    assert not problems, "\n".join(problems)
    assert figures > 10, f"the book should hold plotly figures; found {figures}"


def test_chapters_are_executed(site, browser):
    html, base = site
    for chapter in ("theory", "mlp_tanh_autoencoder", "mlp_summary", "attention", "activation_relu",
                    "activations_summary", "augmentation", "dihedral", "emergence", "merging", "cnn"):
        page = html / "book" / "generated" / f"{chapter}.html"
        assert page.exists(), f"{chapter} page built"
        text = page.read_text()
        assert "How this page was made" in text, f"{chapter} shows its provenance (so it ran to the end)"
        assert "This page shows" in text and "A re-run costs" in text, f"{chapter} opens with its header"
        assert "colab.research.google.com" in text or "repository address is not set" in text, \
            f"{chapter} links its own notebook on Colab, or says why it cannot yet"
        if "quick" in str(html):
            assert "Quick build" in text, f"{chapter} says in a box that it is a quick build"


def _gallery_state(browser):
    return browser.execute_script(
        "const gd = document.querySelector('.plotly-graph-div');"
        "const href = i => i.getAttribute('href') || i.getAttributeNS('http://www.w3.org/1999/xlink', 'href');"
        "const img = Array.from(gd.querySelectorAll('image')).find(i => href(i));"
        "return [gd.layout.title.text, img ? href(img) : null,"
        " document.querySelectorAll('.updatemenu-header-group').length];")


def test_the_gallery_menu_changes_the_picture_and_the_counts(site, browser):
    """Open the filter gallery, pick another network in its menu as a reader would (click the menu, then an
    entry), and check that the picture and the counts above it change."""
    import time
    html, base = site
    shots = html.parent / "screenshots"
    shots.mkdir(exist_ok=True)
    browser.get(f"{base}/book/generated/gallery.html")
    time.sleep(1)
    title, image, menus = _gallery_state(browser)
    assert menus == 1 and image and "explained" in title, (title, image, menus)
    browser.execute_script("document.querySelector('.plotly-graph-div').scrollIntoView()")
    browser.save_screenshot(str(shots / "gallery_first.png"))
    header = browser.find_element("css selector", ".updatemenu-header")       # plotly listens on the header itself
    browser.execute_script("arguments[0].dispatchEvent(new MouseEvent('click', {bubbles: true}))", header)
    time.sleep(0.5)
    buttons = browser.find_elements("css selector", ".updatemenu-dropdown-button")
    assert len(buttons) >= 2, "the menu opens with one entry per network"
    browser.execute_script("arguments[0].dispatchEvent(new MouseEvent('click', {bubbles: true}))", buttons[-1])
    time.sleep(1)
    title2, image2, _ = _gallery_state(browser)
    assert image2 != image, "another network's picture"
    assert title2 != title and "explained" in title2, "and its own counts"
    browser.save_screenshot(str(shots / "gallery_last.png"))


def test_every_page_offers_its_executed_notebook_without_a_path_of_this_machine(site, browser):
    """Each page's download button gives its executed notebook (the book's _sources), and the file names no path of
    the machine that built it (the repository, the home folder, the data and the cache)."""
    import sys
    sys.path.insert(0, str(ROOT / "book"))
    import build        # book/build.py: the paths a build scrubs
    html, base = site
    paths = [p.rstrip("/") for p in build.machine_paths() if len(p) > 1]
    for chapter in build.CHAPTERS:
        page = (html / "book" / "generated" / f"{chapter}.html").read_text()
        assert f'href="../../_sources/book/generated/{chapter}.ipynb"' in page, f"{chapter}: a download link"
        text = (html / "_sources" / "book" / "generated" / f"{chapter}.ipynb").read_text()
        found = [p for p in paths if p in text]
        assert not found, f"{chapter}'s download names {found}"


def test_screenshots_of_the_readme_top_the_report_top_and_a_try_it_live_section(site, browser):
    """What a reader meets first, kept as screenshots beside the built HTML: the README rendered (GitHub renders it
    so; here markdown-it, which the book's own MyST uses), the report page's top, and a 'Try it live' section."""
    import time
    from markdown_it import MarkdownIt
    html, base = site
    shots = html.parent / "screenshots"
    shots.mkdir(exist_ok=True)
    readme = MarkdownIt("commonmark").enable("table").render((ROOT / "README.md").read_text())
    (html / "readme.html").write_text(f"<html><body style='max-width:980px;margin:auto;font-family:sans-serif'>"
                                      f"{readme}</body></html>")
    browser.set_window_size(1400, 1600)
    browser.get(f"{base}/readme.html")
    browser.save_screenshot(str(shots / "readme_top.png"))
    assert "What we found" in browser.page_source
    browser.get(f"{base}/book/generated/report.html")
    time.sleep(0.5)
    browser.save_screenshot(str(shots / "report_top.png"))
    assert "What we found" in browser.page_source and "On this page" in browser.page_source
    browser.get(f"{base}/book/generated/mlp_tanh_autoencoder.html#try-it-live")
    time.sleep(0.5)
    browser.save_screenshot(str(shots / "try_it_live.png"))
    assert "needs a live kernel" in browser.page_source
    (html / "readme.html").unlink()
