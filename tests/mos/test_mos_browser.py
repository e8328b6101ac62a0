"""End to end in a real browser: Debian's headless Chromium, driven by Playwright, rates
trials with keyboard and mouse on a running `rwsr mos serve`; the report then shows them.

`make setup` installs Chromium with apt-get; Playwright never downloads a browser here.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from mos_helpers import ServerProcess
from typer.testing import CliRunner

from rwsr.cli.mos import app
from rwsr.mos.results import compute_report

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed: pip install -e '.[test]'"
    )
    if not CHROMIUM.exists():
        pytest.skip(
            f"Debian's Chromium is not installed at {CHROMIUM}; `make setup` installs it "
            "(apt-get install chromium, as root)"
        )
    with sync_api.sync_playwright() as playwright:
        try:
            chromium = playwright.chromium.launch(
                executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, timeout=60_000
            )
        except sync_api.Error as error:
            pytest.fail(f"{CHROMIUM} is installed but did not start: {error}")
        yield chromium
        chromium.close()


def device_width(page: Any, selector: str) -> float:
    """Rendered width of an image in device pixels."""
    return page.locator(selector).evaluate(
        "(img) => img.getBoundingClientRect().width * window.devicePixelRatio"
    )


def test_rating_with_keyboard_and_mouse_then_report(
    browser: Any,
    make_study: Callable[..., Path],
    serve: Callable[..., ServerProcess],
    tmp_path: Path,
) -> None:
    from playwright.sync_api import expect

    db = make_study(patches=3, patch_size=16)  # 6 trials per rater
    server = serve(db)
    context = browser.new_context(viewport={"width": 1000, "height": 700}, device_scale_factor=2)
    page = context.new_page()
    page.set_default_timeout(30_000)
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)

    page.goto(server.url)
    expect(page.locator("#scale li")).to_have_count(6)
    expect(page.locator("#scale li").first).to_have_text("Perfect")
    page.keyboard.press("Enter")  # Start, from the keyboard
    counter, answers = page.locator("#counter"), page.locator("#answers button")
    expect(counter).to_have_text("0 of 6 rated")
    expect(answers.first).to_be_enabled()
    expect(answers).to_have_count(6)
    expect(answers.nth(5)).to_have_text("5 Terrible")

    # Pixel-exact: 16 image pixels cover 16*zoom device pixels at devicePixelRatio 2, unsmoothed.
    assert page.locator("#result").evaluate("(img) => img.naturalWidth") == 16
    assert page.locator("#result").evaluate("(img) => getComputedStyle(img).imageRendering") == (
        "pixelated"
    )
    page.get_by_role("button", name="1×").click()
    assert device_width(page, "#reference") == device_width(page, "#result") == 16
    page.keyboard.press("+")
    assert device_width(page, "#result") == 32

    page.keyboard.press("2")
    expect(counter).to_have_text("1 of 6 rated")
    expect(answers.first).to_be_enabled()
    page.get_by_role("button", name="4 Much Worse").click()
    expect(counter).to_have_text("2 of 6 rated")
    expect(answers.first).to_be_enabled()
    page.keyboard.press(" ")  # must not re-press the clicked button on the next trial
    page.keyboard.press("0")
    expect(counter).to_have_text("3 of 6 rated")
    expect(answers.first).to_be_enabled()

    page.reload()  # leave and come back: same rater, same place, same zoom
    expect(counter).to_have_text("3 of 6 rated")
    expect(answers.first).to_be_enabled()
    assert device_width(page, "#result") == 32
    assert problems == []
    context.close()

    with sqlite3.connect(db) as connection:
        stored = connection.execute(
            "SELECT a.position, r.score, r.elapsed_ms FROM ratings r JOIN assignments a "
            "ON a.rater_id = r.rater_id AND a.trial_id = r.trial_id ORDER BY a.position"
        ).fetchall()
    assert [(position, score) for position, score, _ in stored] == [(0, 2), (1, 4), (2, 0)]
    assert all(elapsed is not None and elapsed >= 0 for _, _, elapsed in stored)

    report = compute_report(db)
    assert sum(m.estimate.n for m in report.methods) == 3
    assert tuple(map(sum, zip(*(m.histogram for m in report.methods)))) == (1, 0, 1, 0, 1, 0)
    out = tmp_path / "report"
    result = CliRunner().invoke(app, ["report", "--db", str(db), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "1 rater, 3 ratings in the MOS" in (out / "mos.md").read_text()


def test_going_back_to_revise_an_answer(
    browser: Any, make_study: Callable[..., Path], serve: Callable[..., ServerProcess]
) -> None:
    from playwright.sync_api import expect

    db = make_study(patches=2, patch_size=16, allow_revisions=True)  # 4 trials
    server = serve(db)
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.goto(server.url)
    page.get_by_role("button", name="Start").click()
    counter, answers = page.locator("#counter"), page.locator("#answers button")
    for key, rated in (("1", "1 of 4 rated"), ("3", "2 of 4 rated")):
        expect(answers.first).to_be_enabled()
        page.keyboard.press(key)
        expect(counter).to_have_text(rated)
    expect(answers.first).to_be_enabled()
    page.keyboard.press("ArrowLeft")  # back to the second trial, its answer marked
    expect(page.get_by_role("button", name="3 Worse")).to_have_attribute("aria-pressed", "true")
    expect(answers.first).to_be_enabled()
    page.get_by_role("button", name="5 Terrible").click()
    expect(counter).to_have_text("2 of 4 rated")  # a revision adds no rating
    expect(page.get_by_role("button", name="5 Terrible")).to_have_attribute("aria-pressed", "false")
    for key in ("0", "2"):
        expect(answers.first).to_be_enabled()
        page.keyboard.press(key)
    expect(page.locator("#done")).to_be_visible()
    expect(page.locator("#done")).to_contain_text("You have rated all 4 pairs")
    context.close()

    with sqlite3.connect(db) as connection:
        stored = connection.execute(
            "SELECT a.position, r.score, r.revisions FROM ratings r JOIN assignments a "
            "ON a.rater_id = r.rater_id AND a.trial_id = r.trial_id ORDER BY a.position"
        ).fetchall()
    assert stored == [(0, 1, 0), (1, 5, 1), (2, 0, 0), (3, 2, 0)]
