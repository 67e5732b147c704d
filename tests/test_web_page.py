"""The web page at `/`, in a real browser: headless Chromium from the system's packages, driven by
Playwright for Python (no browser is downloaded). Types a text, predicts, reads the bars; chooses a
face image, predicts, reads the observed modalities; keeps a screenshot in docs/."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import matplotlib
import pytest

pytest.importorskip("fastapi", reason="the serve extra is not installed (pip install 'xmer[serve]')")
pytest.importorskip("cv2", reason="the media extra is not installed")
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install 'xmer[browser]')")

CHROMIUM = os.environ.get("XMER_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
if not Path(CHROMIUM).is_file():
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium, or set XMER_CHROMIUM)", allow_module_level=True)

from test_serving import LiveServer  # noqa: E402

from xmer.inference import DEFAULT_MODEL, Recognizer  # noqa: E402
from xmer.serving.app import create_app  # noqa: E402

FACE = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
SCREENSHOT = Path(__file__).resolve().parents[1] / "docs" / "web_page.png"
"""Refreshed by the test when XMER_SCREENSHOTS=1 (docs/cli.md shows it)."""
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", "--disable-dev-shm-usage",
         # a synthetic microphone and camera (a beep and a test pattern), allowed without a prompt
         "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]


@pytest.fixture(scope="module")
def server():
    with LiveServer(create_app(Recognizer.load(), model_dir=DEFAULT_MODEL)) as live:
        yield live


@pytest.fixture(scope="module")
def page(server):
    with sync_api.sync_playwright() as p:
        try:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        except Exception as error:  # a Chromium that cannot start here (no display libraries, ...)
            pytest.skip(f"Chromium at {CHROMIUM} does not start: {str(error).splitlines()[0]}")
        page = browser.new_page(viewport={"width": 900, "height": 700})
        page.goto(server.url + "/")
        yield page
        browser.close()


def chips(page, which: str) -> list[str]:
    return page.eval_on_selector_all(f"#{which} .chip", "chips => chips.map(c => c.textContent)")


def test_text_then_face_image_through_the_page(page, tmp_path):
    page.wait_for_function("document.getElementById('model-line').textContent.startsWith('Model:')", timeout=15_000)
    assert "ekman7" in page.text_content("#model-line")
    page.fill("#text", "I am so happy today, this is wonderful")
    page.click("#predict")
    page.wait_for_selector("#answer:not([hidden])", timeout=30_000)
    assert page.text_content("#status") == "Done."
    labels = page.eval_on_selector_all("#bars .bar", "rows => rows.map(r => r.dataset.label)")
    assert labels == ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
    drawn = page.eval_on_selector_all(  # the bars as drawn: their lengths are the probabilities
        "#bars .fill", "fills => fills.map(f => f.getBoundingClientRect().width / f.parentElement.getBoundingClientRect().width)")
    assert abs(sum(drawn) - 1) < 0.02 and max(drawn) > 0.2, drawn
    assert chips(page, "observed") == ["text"] and chips(page, "imagined") == ["visual", "audio"]

    page.set_input_files("#file", str(FACE))
    assert "grace_hopper.jpg" in page.text_content("#file-name")
    page.evaluate("document.getElementById('answer').hidden = true")
    page.click("#predict")
    page.wait_for_selector("#answer:not([hidden])", timeout=60_000)
    assert chips(page, "observed") == ["visual", "text"]  # the face was found and used
    assert chips(page, "imagined") == ["audio"]
    prediction = page.text_content("#prediction")
    assert prediction in labels
    top = page.eval_on_selector("#bars .bar.top", "row => row.dataset.label")
    assert top == prediction
    page.screenshot(path=str(tmp_path / "page.png"), full_page=True)
    assert (tmp_path / "page.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if os.environ.get("XMER_SCREENSHOTS") == "1":
        shutil.copyfile(tmp_path / "page.png", SCREENSHOT)


def test_a_microphone_recording_is_predicted(page):
    """MediaRecorder's WebM (Opus audio, no picture) goes up as 'file' and is read as audio."""
    page.click("#clear")
    page.click("#record-audio")
    page.wait_for_function("document.getElementById('recording').textContent === 'recording...'", timeout=15_000)
    page.wait_for_timeout(1500)
    page.click("#stop")
    page.wait_for_function("document.getElementById('file-name').textContent.startsWith('recording.')", timeout=15_000)
    page.uncheck("#want-timeline")
    page.click("#predict")
    page.wait_for_selector("#answer:not([hidden])", timeout=60_000)
    assert chips(page, "observed") == ["audio"], page.text_content("#notes")


def test_an_error_is_shown_on_the_page(page, tmp_path):
    (tmp_path / "notes.txt").write_text("not a media file")
    page.set_input_files("#file", str(tmp_path / "notes.txt"))
    page.fill("#text", "")
    page.click("#predict")
    page.wait_for_function("document.getElementById('status').className === 'error'", timeout=30_000)
    assert "not a media file" in page.text_content("#status")
