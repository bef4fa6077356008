"""The report and the decision-support page as a person sees them, in headless chromium."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from radscore.cli import main

pytestmark = [pytest.mark.slow, pytest.mark.browser]

SHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"


def _watch(page) -> list[str]:
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
    return problems


def test_report_renders_every_figure(browser, small_study):
    page = browser.new_page()
    problems = _watch(page)
    external: list[str] = []
    page.on("request", lambda r: external.append(r.url) if r.url.startswith("http") else None)
    page.goto((small_study / "report.html").as_uri())
    page.wait_for_load_state("load")
    imgs = page.eval_on_selector_all("img", "els => els.map(e => [e.alt, e.complete, e.naturalWidth])")
    assert len(imgs) >= 5
    assert [i for i in imgs if not (i[1] and i[2] > 0)] == []
    assert problems == [] and external == []  # opens offline, nothing fetched
    assert page.locator("h2#summary, section#summary h2").count() >= 1
    assert "Recommended model" in page.inner_text("#summary")
    assert page.locator("#checklist tr").count() > 10
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "report_top.png"))
    page.locator("#checklist").scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "report_checklist.png"))
    page.close()


def test_page_radscore_equals_cli(browser, small_study, live, capsys, scan_files, patient_with_followup):
    pid = patient_with_followup(small_study)
    base = scan_files(small_study, pid)
    follow = scan_files(small_study, pid, "followup")
    assert main(["-q", "predict", str(small_study / "models" / "comb"), "--ct", str(base["ct"]), "--pet",
                 str(base["pet"]), "--mask", str(base["mask"]), "--json"]) == 0
    cli = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    page = browser.new_page()
    problems = _watch(page)
    page.goto(live.url + "/")
    page.wait_for_function("document.getElementById('model-line').textContent.startsWith('Model')")
    for role in ("ct", "pet", "mask"):
        page.set_input_files(f"#{role}", str(base[role]))
        page.set_input_files(f"#fu_{role}", str(follow[role]))
    page.click("#submit")
    page.wait_for_selector("#result:not([hidden])", timeout=180_000)
    shown = page.locator("#radscore")
    assert float(shown.get_attribute("data-value")) == cli["radscore"]
    assert shown.inner_text() == f"{cli['radscore']:.4f}"
    assert page.inner_text("#probability") == f"{cli['probability']:.3f}"
    assert page.inner_text("#group").lower() == cli["group"]
    assert page.locator("#traj-fig").is_visible() and page.locator("#change").is_visible()
    imgs = page.eval_on_selector_all("#result img", "els => els.map(e => e.naturalWidth)")
    assert len(imgs) == 4 and min(imgs) > 0  # distribution, trajectory, two slice panels
    assert problems == []
    SHOTS.mkdir(parents=True, exist_ok=True)
    (SHOTS / "agreement.json").write_text(json.dumps({"patient": pid, "cli": cli["radscore"],
                                                       "page": float(shown.get_attribute("data-value")),
                                                       "page_text": shown.inner_text()}))
    page.screenshot(path=str(SHOTS / "page_result.png"), full_page=True)
    page.close()


def test_bad_upload_shows_the_error(browser, small_study, live, tmp_path, scan_files):
    base = scan_files(small_study, "P0004")
    fake = tmp_path / "ct.nii.gz"
    fake.write_bytes(b"definitely not an image\n" * 20)
    page = browser.new_page()
    page.goto(live.url + "/")
    page.set_input_files("#ct", str(fake))
    page.set_input_files("#pet", str(base["pet"]))
    page.set_input_files("#mask", str(base["mask"]))
    page.click("#submit")
    page.wait_for_selector("#error:not([hidden])", timeout=60_000)
    text = page.inner_text("#error")
    assert "baseline CT" in text and "not a .nii.gz file" in text and "Fix:" in text
    assert page.locator("#result").is_hidden()
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "page_error.png"))
    page.close()
