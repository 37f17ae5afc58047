"""Issue 16 "No dead ends for a non-expert", in a real browser (Debian chromium), in both languages.

- A custom prompt the style filter cannot draw is refused at "use" with a message naming it and the styles; the
  good prompts then generate.
- A reload keeps the project, the language and the run shown.
- No English is left on the Japanese pages apart from names (a check over every page's text).
- No request leaves 127.0.0.1.

The server gets its own workspace with two small projects made from the shipped sample photos.
"""

import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import pytest

from e2e_support import CHROMIUM, REPO, rerun_after, serve, wait_idle

SAMPLE = REPO / "sample_data" / "lab"
BAD = "oil film on the surface"

pytestmark = [pytest.mark.e2e,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian chromium at /usr/bin/chromium")]

playwright_sync = pytest.importorskip("playwright.sync_api")

from genmix_core.i18n import t  # noqa: E402
expect = playwright_sync.expect


def _make_projects(workspace: Path) -> None:
    """Projects "p_en", "p_ja" and "default" (2 classes × 4 photos each) and "line_2" (the same, with two
    generation runs)."""
    env = {**os.environ, "GENMIX_WORKSPACE": str(workspace), "PYTHONPATH": str(REPO)}
    code = f"""
from pathlib import Path
from genmix_core.data import import_uploads, open_project
from genmix_core.generate import GenerateConfig, run_generation
for name in ("default", "p_en", "p_ja", "line_2"):
    proj = open_project(name, create=True)
    for label in ("ok", "scratch"):
        files = [(p.name, p.read_bytes()) for p in sorted(Path({str(SAMPLE)!r}, label).glob("*.png"))[:4]]
        import_uploads(proj, files, label=label)
proj = open_project("line_2")
for stamp in ("20260101-090000", "20260102-090000"):
    run_generation(GenerateConfig(data=str(proj.data_dir("train")), out=str(proj.runs_dir / (stamp + "-generate")),
                                  prompts=["dim lighting"], cache=str(proj.cache_dir / "edits")))
"""
    subprocess.run([sys.executable, "-c", code], env=env, check=True, cwd=REPO, timeout=300)


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    workspace = tmp_path_factory.mktemp("e2e_issue16")
    _make_projects(workspace)
    with serve(workspace, {"HF_HUB_OFFLINE": "1"}) as url:
        yield url


@pytest.fixture(scope="module")
def requests_seen():
    """Every URL any page of this module asked for (checked by the last test)."""
    return []


@pytest.fixture
def new_page(browser, requests_seen):
    pages = []

    def make(locale="en-US", height=1300):
        page = browser.new_page(viewport={"width": 1400, "height": height}, locale=locale)
        page.on("request", lambda request: requests_seen.append(request.url))
        pages.append(page)
        return page

    yield make
    for page in pages:
        page.close()


def _open(page, url):
    """Open ``url`` and wait until its page has drawn its title and its script run has ended."""
    page.goto(url)
    expect(page.get_by_role("heading", level=1)).to_be_visible(timeout=120_000)
    wait_idle(page, timeout=120_000)


def _by_key(page, key):
    """A widget by its Streamlit key (``st-key-<key>`` class): the same locator in every language."""
    return page.locator(f".st-key-{key}")


# --- the prompt table (a canvas grid: cells are reached by position) -----------------------------------------

ROW = 35          # Streamlit's default row height, header included


def _cell(page, row: int, x: float):
    box = page.get_by_test_id("stDataFrame").first.bounding_box()
    return box["x"] + x, box["y"] + ROW * (row + 1) + ROW / 2


def _wait_text(page, text: str, testid: str = "stCaptionContainer", timeout=120_000):
    """Wait until an element ``data-testid=testid`` shows ``text``: the state the last action must lead to (the
    page answers after its rerun, which on a busy machine may start well after the action)."""
    page.wait_for_function(
        "([id, text]) => [...document.querySelectorAll(`[data-testid=${id}]`)].some(e => e.innerText.includes(text))",
        arg=[testid, text], timeout=timeout)


def _checked(lang: str, count: int, total: int) -> str:
    return t("ui.prompts.checked_count", lang, count=count, total=total)


def _toggle_use(page, row: int, lang: str, expect_checked: tuple[int, int]):
    page.mouse.click(*_cell(page, 0, 900))        # into the grid (a first click may only give it the focus) ...
    page.wait_for_timeout(300)                    # (pacing of the two clicks, so they are not one double click)
    page.mouse.click(*_cell(page, row, 75))       # ... select the tick box's cell ...
    page.wait_for_timeout(300)
    page.keyboard.press("Space")                  # ... and flip it, as a keyboard user does
    _wait_text(page, _checked(lang, *expect_checked))   # the page's own count of checked prompts
    wait_idle(page)


def _add_prompt(page, row: int, text: str, lang: str, expect_checked: tuple[int, int]):
    table = page.get_by_test_id("stDataFrame").first
    table.hover()
    rerun_after(page, table.get_by_role("button", name="Add row").click)   # the empty row counts nowhere yet
    page.mouse.dblclick(*_cell(page, row, 260))
    # The cell's editor is a text area that opens a moment later: wait for it, then fill it in one go.
    page.wait_for_function("document.activeElement && document.activeElement.tagName === 'TEXTAREA'")
    page.locator("textarea:focus").fill(text)
    page.keyboard.press("Tab")                    # commit and stay in this row (Enter would go to a new one)
    _wait_text(page, _checked(lang, *expect_checked))   # the new row counts (ticked by default)
    wait_idle(page)


def _alerts(page) -> str:
    return "\n".join(page.get_by_test_id("stAlert").all_inner_texts())


@pytest.mark.parametrize("lang, locale, refused", [("en", "en-US", "cannot draw"), ("ja", "ja-JP", "描けません")])
def test_an_undrawable_prompt_is_refused_and_the_good_ones_still_generate(app_url, new_page, lang, locale, refused):
    page = new_page(locale)
    _open(page, f"{app_url}/prompts?project=p_{lang}&lang={lang}")
    _wait_text(page, _checked(lang, 8, 8))
    for n, row in enumerate((5, 6, 7)):        # untick 3 of the factory set's 8: five good prompts stay ticked
        _toggle_use(page, row, lang, (7 - n, 8))
    _add_prompt(page, 8, BAD, lang, (6, 9))    # a prompt of the user's own, style left at "none"
    _by_key(page, "prompts_use").locator("button").click()
    _wait_text(page, refused, testid="stAlert")
    wait_idle(page)
    message = _alerts(page)
    assert refused in message and f"“{BAD}”" in message, message
    assert ("dim light" if lang == "en" else "暗い照明") in message          # the styles it can use, named
    _toggle_use(page, 8, lang, (5, 9))         # the user unticks it: the five good prompts are accepted
    if os.environ.get("GENMIX_E2E_DEBUG"):
        page.screenshot(path="/tmp/nc/shots/e2e_untick.png")
    _by_key(page, "prompts_use").locator("button").click()
    _wait_text(page, t("ui.prompts.active_saved", lang, count=5), testid="stAlert")
    wait_idle(page)
    assert re.search(r"\b5\b", _alerts(page)) and refused not in _alerts(page)

    _open(page, f"{app_url}/generate?project=p_{lang}&lang={lang}")
    plan = {"en": "8 photos × 5 prompt(s) = 40 images", "ja": "写真 8 枚 × プロンプト 5 個 = 40 枚"}[lang]
    expect(page.get_by_text(plan, exact=False)).to_be_visible()
    _by_key(page, "gen_start").locator("button").click()
    done = page.get_by_test_id("stMetric").first.get_by_test_id("stMetricValue")
    expect(done).to_have_text("40", timeout=240_000)
    failed = page.get_by_test_id("stMetric").nth(1).get_by_test_id("stMetricValue")
    assert failed.inner_text() == "0"


def test_a_reload_keeps_project_language_and_run(app_url, new_page):
    page = new_page("en-US")
    _open(page, f"{app_url}/generate")
    sidebar = page.get_by_test_id("stSidebar")
    sidebar.get_by_test_id("stSelectbox").nth(1).click()                # project
    rerun_after(page, page.get_by_role("option", name="line_2", exact=True).click)
    sidebar.get_by_test_id("stSelectbox").first.click()                 # language
    rerun_after(page, page.get_by_role("option", name="日本語", exact=True).click)
    expect(page.get_by_role("heading", name="生成")).to_be_visible()
    picker = page.locator("[class*='st-key-gen_run_pick']").get_by_test_id("stSelectbox")
    picker.click()
    rerun_after(page, page.get_by_role("option", name=re.compile("20260101-090000-generate")).click)
    assert re.search(r"project=line_2", page.url) and "lang=ja" in page.url and "run=20260101-090000" in page.url

    page.reload()
    expect(page.get_by_role("heading", name="生成")).to_be_visible(timeout=120_000)
    wait_idle(page)
    assert page.get_by_role("combobox", name="プロジェクト").input_value() == "line_2"
    assert "20260101-090000-generate" in picker.locator("input").input_value()
    # A colleague opening the same address in an English browser sees the same place.
    other = new_page("en-US")
    _open(other, page.url)
    expect(other.get_by_role("heading", name="生成")).to_be_visible()
    run = other.locator("[class*='st-key-gen_run_pick']").locator("input").input_value()
    assert "20260101-090000-generate" in run


# Names that stay as they are on Japanese pages: products, models, file formats, units, method names.
NAMES = {"GenMix", "DiffuseMix", "InstructPix2Pix", "image-to-image", "EfficientNet-Lite0", "ImageNet", "CNN", "CPU",
         "GPU", "AI", "PC", "PNG", "JPG", "JPEG", "BMP", "TIF", "TIFF", "WEBP", "WebP", "ZIP", "MB", "GB", "Mixup",
         "CutMix", "FGSM", "PGD", "Hugging", "Face", "Hub", "ID", "YAML", "README", "CSV", "HTML", "US", "MBZUAI",
         "Lite0", "EfficientNet", "SD", "Turbo", "SDXL", "Stable", "Diffusion", "Python", "pip", "arXiv", "cuda",
         "mps", "float32", "float16", "bfloat16", "ok", "scratch", "dent", "stain", "crack", "default", "line_2",
         "lab", "line", "ε", "λ", "px", "Ctrl", "Web", "GenMix Workbench"}


def _visible_text(page) -> str:
    """Text a person reads on the page (main area and sidebar), without icon ligatures and code blocks."""
    return page.evaluate("""() => {
        const skip = el => el.closest('[data-testid=stIconMaterial], [data-testid=stCode], pre, code');
        const out = [];
        for (const root of document.querySelectorAll('[data-testid=stMain], [data-testid=stSidebar]')) {
            const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
            while (walker.nextNode()) {
                const node = walker.currentNode, el = node.parentElement;
                if (!el || skip(el) || !el.checkVisibility()) continue;
                out.push(node.textContent);
            }
        }
        return out.join('\\n');
    }""")


def _english_words(text: str, data_names: set[str]) -> set[str]:
    text = re.sub(r"\S+\.(png|jpg|zip|yaml|html|json|csv)\b", " ", text)        # file names
    text = re.sub(r"[^\s（）「」、。]*(/|--)[^\s（）「」、。]*", " ", text)          # paths, model ids, folders
    text = re.sub(r"\d{8}-\d{6}-\w+(-\d+)?", " ", text)                          # run folder names
    for name in sorted(data_names | NAMES, key=len, reverse=True):
        text = text.replace(name, " ")
    return {w for w in re.findall(r"[A-Za-z][A-Za-z'\-]{2,}", text)}


def test_no_english_left_on_the_japanese_pages(app_url, new_page):
    from genmix_core.editing import style_ids
    from genmix_core.prompts import list_prompt_sets

    prompts = {p.text for s in list_prompt_sets(None) for p in s.prompts} | {BAD}
    data_names = prompts | set(style_ids()) | {"timbrooks/instruct-pix2pix",
                                               "stable-diffusion-v1-5/stable-diffusion-v1-5"}
    page = new_page("ja-JP", height=2400)
    found = {}
    for path in ("", "data", "prompts", "preview", "generate", "train", "search"):
        _open(page, f"{app_url}/{path}?project=default&lang=ja")
        expect(page.get_by_test_id("stSidebarNav").get_by_text("ホーム")).to_be_visible()
        words = _english_words(_visible_text(page), data_names)
        if words:
            found[path or "home"] = sorted(words)
    assert not found, found


def test_no_request_left_this_pc(requests_seen):
    """Runs last in this module: every page above asked only 127.0.0.1 (or inline data) for anything."""
    assert requests_seen
    outside = {u for u in requests_seen if urlparse(u).scheme not in ("data", "blob", "about")
               and urlparse(u).hostname != "127.0.0.1"}
    assert not outside, sorted(outside)[:10]
