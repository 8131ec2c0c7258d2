"""The GUI in a real browser (Playwright driving the system chromium), as a user would use it.

On the fixtures' simulated project (tests/gui/conftest.py): the token is needed; prepare_star
runs from the Prepare page; a defocus cell edited in the star table lands in the file, and the
table follows changes on disk; a tiny refine streams its log, progress and a preview; a
predict waits in the queue behind it; a job started with "Run now" is cancelled; after a
server restart the jobs are still listed; the viewer shows raw and corrected maps side by side.

Each step saves a screenshot (01_... to 14_...) in $ISONET_SCREENSHOTS, else
artifacts/gui_screenshots/ in the repository. The module is skipped only when playwright or
chromium is missing (`.ci/run` installs both).
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from isonet2.io.star import read_star, write_star

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed (pip install -e '.[dev]')"
)
CHROMIUM = (
    os.environ.get("ISONET_CHROMIUM")
    or shutil.which("chromium")
    or shutil.which("chromium-browser")
)
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium on PATH (apt-get install chromium); set ISONET_CHROMIUM"
)
expect = sync_api.expect

SHOTS = Path(
    os.environ.get("ISONET_SCREENSHOTS")
    or Path(__file__).resolve().parents[2] / "artifacts" / "gui_screenshots"
)
# the refine tests' tiny run (tests/pipeline/test_refine.py): seconds on a 2-core CPU
# (batch 2 makes 4 steps of the 8 cubes, so the progress bar has steps to show)
TINY_REFINE = {"epochs": "1", "cube_size": "32", "ncpus": "0", "batch_size": "2"}
CHECKPOINT = "network_isonet2-n2n_unet-small_32_full.pt"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            # root in CI containers needs --no-sandbox; a small /dev/shm crashes tabs
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-dev-shm-usage"],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Any, gui_server: Any) -> Iterator[Any]:
    """A fresh browser tab that opened the printed URL (so it holds the token cookie)."""
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    context.set_default_timeout(20_000)
    tab = context.new_page()
    tab.goto(gui_server.url)
    expect(tab.get_by_test_id("project-path")).not_to_be_empty()
    yield tab
    context.close()


def shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def fill_form(page: Any, values: dict[str, str]) -> None:
    """Type into text boxes, pick from selects, tick checkboxes (values "True"/"False")."""
    for name, value in values.items():
        field = page.get_by_test_id(f"field-{name}")
        tag = field.evaluate("node => node.tagName + ':' + node.type")
        if tag == "SELECT:select-one":
            field.select_option(value)
        elif tag == "INPUT:checkbox":
            field.set_checked(value == "True")
        else:
            field.fill(value)


def submit(page: Any, button: str = "submit") -> int:
    """Click Submit (or Run now) and return the new job's number."""
    page.get_by_test_id(button).click()
    link = page.get_by_test_id("job-link")
    try:
        expect(link).to_be_visible()
    except AssertionError:
        errors = page.locator(".field-error:not(:empty), .form-error").all_inner_texts()
        raise AssertionError(f"no job was made; the form says {errors}") from None
    return int(link.get_attribute("href").rsplit("/", 1)[1])


def job_status(page: Any, job: int, status: str, timeout_s: float = 60) -> None:
    expect(page.get_by_test_id(f"job-status-{job}")).to_have_text(status, timeout=timeout_s * 1000)


def prepare(page: Any) -> int:
    """Run prepare_star from the Prepare page on the project's even/odd folders."""
    page.get_by_test_id("nav-prepare_star").click()
    fill_form(
        page,
        {
            "even": "sim/even",
            "odd": "sim/odd",
            "defocus": "30000",
            "pixel_size": "10",
            "number_subtomos": "4",
        },
    )
    expect(page.get_by_test_id("show-command")).to_have_count(1)  # the old form is gone
    page.get_by_test_id("show-command").click()
    expect(page.get_by_test_id("command-line")).to_contain_text(
        "isonet.py prepare_star -e sim/even -o sim/odd"
    )
    job = submit(page, "run-now")
    page.get_by_test_id("job-link").click()
    job_status(page, job, "finished")
    return job


def test_the_page_needs_the_token(browser: Any, gui_server: Any) -> None:
    context = browser.new_context(viewport={"width": 1100, "height": 500})
    tab = context.new_page()
    refused = tab.goto(f"{gui_server.base}/")
    assert refused is not None and refused.status == 403
    expect(tab.locator("body")).to_contain_text("missing or wrong access token")
    shot(tab, "01_refused_without_token")
    assert tab.goto(f"{gui_server.base}/?token=wrong").status == 403
    assert context.request.get(f"{gui_server.base}/api/project").status == 403

    opened = tab.goto(gui_server.url)
    assert opened is not None and opened.ok
    assert "token=" not in tab.url  # the token moved into a cookie
    expect(tab.get_by_test_id("project-path")).to_have_text(str(gui_server.project.resolve()))
    for route in ("prepare_star", "deconv", "make_mask", "denoise", "refine", "predict"):
        expect(tab.get_by_test_id(f"nav-{route}")).to_be_visible()
    expect(tab.get_by_test_id("field-even")).to_be_visible()
    shot(tab, "02_opened_with_token")
    context.close()


def test_a_page_left_while_loading_does_not_appear(browser: Any, gui_server: Any) -> None:
    """The first page's form schema arrives only after the user clicked on to Refine: only
    Refine's form is shown (both used to be appended to the page, one under the other)."""
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    context.set_default_timeout(20_000)
    tab = context.new_page()
    held: list[Any] = []
    tab.route("**/api/commands", lambda route: held.append(route))  # answered after the click
    tab.goto(gui_server.url)
    tab.wait_for_function("() => document.querySelector('[data-testid=nav-refine]')")
    while not held:
        tab.wait_for_timeout(50)
    tab.get_by_test_id("nav-refine").click()
    held[0].continue_()
    tab.unroute("**/api/commands")
    expect(tab.get_by_test_id("field-epochs")).to_be_visible()
    expect(tab.get_by_test_id("show-command")).to_have_count(1)
    expect(tab.get_by_test_id("field-even")).to_have_count(0)  # Prepare's form is not there
    expect(tab.locator("main > .page")).to_have_count(1)
    context.close()


def test_prepare_then_edit_a_defocus_cell(page: Any, gui_server: Any) -> None:
    star_path = gui_server.project / "tomograms.star"
    star_path.unlink()  # the fixture's star: this time the Prepare page writes it
    prepare(page)
    shot(page, "03_prepare_job_finished")
    assert len(read_star(star_path).rows) >= 2

    page.get_by_test_id("nav-star").click()
    cell = page.get_by_test_id("star-cell-0-rlnDefocus")
    cell.fill("25000")
    page.get_by_test_id("star-save").click()
    expect(page.get_by_test_id("star-status")).to_contain_text("Saved")
    assert read_star(star_path).rows[0].defocus_angstrom == 25000
    shot(page, "04_star_defocus_saved")

    # a command (here: the test) rewrites the star: the open page reloads it
    table = read_star(star_path)
    table.rows[1].defocus_angstrom = 31000
    time.sleep(0.01)  # a new mtime even on coarse clocks
    write_star(table, star_path)
    expect(page.get_by_test_id("star-cell-1-rlnDefocus")).to_have_value(
        re.compile(r"^31000(\.0*)?$")
    )
    expect(page.get_by_test_id("star-status")).to_contain_text("changed on disk")
    shot(page, "05_star_reloaded_after_change_on_disk")

    # unsaved edits and a change on disk: a warning, Save is refused (409), Reload shows the disk
    page.get_by_test_id("star-cell-1-rlnDefocus").fill("12345")
    table.rows[1].defocus_angstrom = 32000
    time.sleep(0.01)
    write_star(table, star_path)
    expect(page.get_by_test_id("star-status")).to_contain_text("unsaved edits")
    page.get_by_test_id("star-save").click()
    expect(page.get_by_test_id("star-status")).to_contain_text(
        "changed on disk since you opened it"
    )
    shot(page, "06_star_conflict_on_save")
    assert read_star(star_path).rows[1].defocus_angstrom == 32000
    page.get_by_test_id("star-reload").click()
    expect(page.get_by_test_id("star-cell-1-rlnDefocus")).to_have_value(
        re.compile(r"^32000(\.0*)?$")
    )


PROGRESS_FRACTION = """() => {
    const bar = [...document.querySelectorAll('[data-testid=job-progress] progress')].pop();
    return bar && bar.max ? bar.value / bar.max : null;
}"""


def watch_refine(page: Any, job: int) -> None:
    """On the job's page: the log and the progress advance, then a preview picture appears."""
    page.goto(f"{page.url.split('#')[0]}#/jobs/{job}")
    log_sizes: set[int] = set()
    progress_seen: list[str] = []
    shots_taken = 0  # 1: running, 2: running with the epoch's bar part-way
    deadline = time.monotonic() + 150
    status = ""
    while time.monotonic() < deadline:
        status = page.get_by_test_id(f"job-status-{job}").inner_text()
        log_sizes.add(len(page.get_by_test_id("job-log").inner_text()))
        progress = page.get_by_test_id("job-progress").inner_text()
        if not progress_seen or progress_seen[-1] != progress:
            progress_seen.append(progress)
        fraction = page.evaluate(PROGRESS_FRACTION)
        wanted = 2 if fraction is not None and 0 < fraction < 1 else 1
        if "epoch" in progress and status == "running" and shots_taken < wanted:
            shot(page, "09_refine_running_log_and_progress")
            shots_taken = wanted
        if status not in ("queued", "running"):
            break
        page.wait_for_timeout(300)
    assert status == "finished", page.get_by_test_id("job-log").inner_text()[-2000:]
    assert len({size for size in log_sizes if size > 0}) >= 2, "the log never grew while running"
    assert len(progress_seen) >= 2 and any("epoch 1/1" in text for text in progress_seen)
    bar = page.get_by_test_id("job-progress").locator("progress").last
    assert bar.evaluate("bar => bar.value === bar.max && bar.max > 0")
    preview = page.locator("[data-testid=job-picture][data-path*=preview]").first
    expect(preview).to_be_visible()
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=job-picture]')]"
        ".some(img => img.dataset.path.includes('preview') && img.naturalWidth > 0)"
    )
    shot(page, "10_refine_finished_loss_and_preview")


def test_refine_predict_queue_cancel_restart_and_view(page: Any, gui_server: Any) -> None:
    # a tiny refine into the queue
    page.get_by_test_id("nav-refine").click()
    fill_form(page, {**TINY_REFINE, "arch": "unet-small", "with_preview": "True"})
    expect(page.get_by_test_id("show-command")).to_have_count(1)  # the old form is gone
    page.get_by_test_id("show-command").click()
    expect(page.get_by_test_id("command-line")).to_contain_text("--epochs 1")
    refine = submit(page)
    expect(page.get_by_test_id("command-line")).to_contain_text(f"-o refine/job{refine}")
    shot(page, "07_refine_form_submitted")

    # a predict queued behind it; a missing model is reported next to its field first
    page.get_by_test_id("nav-predict").click()
    page.get_by_test_id("submit").click()
    expect(page.get_by_test_id("error-model")).to_contain_text("required")
    fill_form(page, {"model": f"refine/job{refine}/{CHECKPOINT}"})
    predict = submit(page)

    page.get_by_test_id("nav-jobs").click()
    job_status(page, refine, "running", 20)
    job_status(page, predict, "queued", 5)
    shot(page, "08_jobs_refine_running_predict_queued")

    watch_refine(page, refine)

    # a long refine started at once beside the queue, then cancelled while it runs
    page.get_by_test_id("nav-refine").click()
    fill_form(page, {**TINY_REFINE, "epochs": "50", "with_preview": "False"})
    doomed = submit(page, "run-now")
    page.get_by_test_id("nav-jobs").click()
    job_status(page, doomed, "running")
    page.get_by_test_id(f"job-cancel-{doomed}").click()
    job_status(page, doomed, "cancelled", 20)
    shot(page, "11_jobs_one_cancelled")

    job_status(page, predict, "finished", 120)
    shot(page, "12_jobs_predict_finished")

    # the server restarts: the jobs are still there
    gui_server.restart()
    page.goto(gui_server.url)
    page.get_by_test_id("nav-jobs").click()
    for job, status in ((refine, "finished"), (predict, "finished"), (doomed, "cancelled")):
        job_status(page, job, status, 10)
    shot(page, "13_jobs_listed_after_server_restart")
    page.get_by_test_id(f"job-delete-{doomed}").click()
    expect(page.get_by_test_id(f"job-row-{doomed}")).to_have_count(0)

    # raw even half beside the corrected map, same axis and slice
    volumes = page.request.get(f"{gui_server.base}/api/volumes").json()["volumes"]
    corrected = [path for path in volumes if path.startswith(f"predict/job{predict}/")]
    raw = [path for path in volumes if path.startswith("sim/even/")]
    assert corrected and raw, volumes
    page.get_by_test_id("nav-viewer").click()
    page.get_by_test_id("viewer-select").select_option(raw[0])
    page.get_by_test_id("viewer-select-2").select_option(corrected[0])
    for info in ("viewer-info", "viewer-info-2"):  # both volumes' shapes are known
        expect(page.get_by_test_id(info)).to_contain_text("64 × 64 × 64")
    page.get_by_test_id("viewer-axis").select_option("y")
    slider = page.get_by_test_id("viewer-slider")
    slider.evaluate(
        "s => { s.value = String(Math.floor(s.max / 3)); s.dispatchEvent(new Event('input')) }"
    )
    index = slider.input_value()
    page.wait_for_function(
        "index => ['viewer-image', 'viewer-image-2'].every(id => {"
        " const img = document.querySelector(`[data-testid=${id}]`);"
        " return img.naturalWidth > 0 && img.src.includes('axis=y')"
        " && img.src.includes(`index=${index}`) })",
        arg=index,
    )
    shot(page, "14_viewer_raw_beside_corrected")
