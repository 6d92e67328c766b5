"""Drive rq-dashboard in headless Chromium; run with the tools virtualenv's python (it has selenium).

Opens the queues, workers and failed-jobs pages, waits for the rows the dashboard's
JavaScript renders from its JSON endpoints, saves a screenshot of each page, clicks
"Requeue" on one failed job, waits for its row to go, then opens the finished-jobs page
until that job shows up there (a worker runs it again). Prints one JSON object with what
the pages showed and where the screenshots are.

Usage: dashboard_browser.py CONFIG_JSON (keys: base_url, chromium, chromedriver,
profile_dir, artifacts_dir, queue, job_id, worker, queues).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Callable, TypeVar

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

T = TypeVar("T")
# Seconds to wait for the dashboard's JavaScript to render, or for a job to change registry.
PAGE_TIMEOUT = 20.0
# Flags required in this environment: no sandbox, no GPU, nothing reaching the network.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,1000",
)


def start_browser(config: dict) -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = config["chromium"]
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={config['profile_dir']}"):
        options.add_argument(flag)
    # An explicit driver path keeps selenium from looking for (or downloading) one.
    return webdriver.Chrome(options=options, service=Service(executable_path=config["chromedriver"]))


def row_texts(browser: webdriver.Chrome, selector: str) -> list[list[str]]:
    try:
        rows = browser.find_elements(By.CSS_SELECTOR, selector)
        return [[cell.text.strip() for cell in row.find_elements(By.TAG_NAME, "td")] for row in rows]
    except StaleElementReferenceException:  # the page re-rendered its table meanwhile
        return []


def wait_for_rows(browser: webdriver.Chrome, selector: str, first_cells: set[str]) -> list[list[str]]:
    """Rows matching ``selector`` once every name in ``first_cells`` starts one of them."""

    def rendered(_: object) -> list[list[str]] | bool:
        rows = row_texts(browser, selector)
        names = {row[0].split()[0] for row in rows if row and row[0]}
        return rows if first_cells <= names else False

    return WebDriverWait(browser, PAGE_TIMEOUT).until(rendered, f"rows {sorted(first_cells)} in {selector}")


def retry_stale(read: Callable[[], T], attempts: int = 5) -> T:
    """``read()``, again if the page redrew the element meanwhile."""
    for _ in range(attempts - 1):
        try:
            return read()
        except StaleElementReferenceException:
            pass
    return read()


def job_row(browser: webdriver.Chrome, job_id: str):
    rows = browser.find_elements(By.CSS_SELECTOR, f'tr[data-role="job"][data-job-id="{job_id}"]')
    return rows[0] if rows else None


def main() -> None:
    config = json.loads(sys.argv[1])
    base, queue, job_id = config["base_url"], config["queue"], config["job_id"]
    artifacts = Path(config["artifacts_dir"])
    shots: list[str] = []
    report: dict = {"screenshots": shots}

    def screenshot(name: str) -> None:
        path = artifacts / f"rq-dashboard-{name}.png"
        browser.save_screenshot(str(path))
        shots.append(str(path))

    browser = start_browser(config)
    try:
        browser.get(f"{base}/0/view/queues")
        report["queues"] = wait_for_rows(browser, 'tr[data-role="queue"]', set(config["queues"]))
        screenshot("queues")

        browser.get(f"{base}/0/view/workers")
        report["workers"] = wait_for_rows(browser, 'tr[data-role="worker"]', {config["worker"]})
        screenshot("workers")

        browser.get(f"{base}/0/view/jobs/{queue}/failed/8/asc/1")
        WebDriverWait(browser, PAGE_TIMEOUT).until(lambda _: job_row(browser, job_id), "the failed job's row")

        def read_failed_row() -> dict:
            row = job_row(browser, job_id)
            return {
                "description": row.find_element(By.CSS_SELECTOR, ".description").text,
                "exc_info": row.find_element(By.CSS_SELECTOR, ".exc_info").text,
            }

        report["failed_row"] = retry_stale(read_failed_row)
        screenshot("failed-jobs")
        retry_stale(
            lambda: job_row(browser, job_id).find_element(By.CSS_SELECTOR, '[data-role="requeue-job-btn"]').click()
        )
        WebDriverWait(browser, PAGE_TIMEOUT).until(lambda _: job_row(browser, job_id) is None, "the row to go")
        report["requeued"] = True

        # The worker runs the requeued job; keep reloading until it is listed as finished.
        def finished(_: object) -> bool:
            browser.get(f"{base}/0/view/jobs/{queue}/finished/8/asc/1")
            try:
                WebDriverWait(browser, 2).until(lambda _: job_row(browser, job_id))
            except TimeoutException:
                return False
            return True

        WebDriverWait(browser, PAGE_TIMEOUT, poll_frequency=0.5).until(finished, "the job on the finished page")
        report["finished_ids"] = [
            element.get_attribute("data-job-id")
            for element in browser.find_elements(By.CSS_SELECTOR, 'tr[data-role="job"]')
        ]
        screenshot("finished-jobs")
    finally:
        browser.quit()
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
