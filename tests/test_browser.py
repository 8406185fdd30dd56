"""What an operator sees, in a real browser: a Prefect server and `rentree serve` on loopback,
a tiny region run until a hold pauses a run; with Selenium and headless Chromium, the runs
list shows the held runs as not a clean Completed (state badges "Held" and "Paused"), the
paused run's artifacts hold a report link that answers 200, its approval form shows why it is
held and the change set's summary, and approving it in the form applies it (the run's page
turns "Completed", the hold is approved by the person named in the form).

Debian's `chromium` and `chromium-driver` are installed by `.ci/run`, which sets `CI`: there,
a missing browser fails the test; elsewhere it is skipped. The selectors are those of the
Prefect UI shipped with the installed prefect (its Vue pages: `.state-badge`, `li.p-tab`,
`.artifact-card`, `.p-modal`). Screenshots of each page, with the page's text beside them,
are left in the test's temporary folder (`screenshots/`).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import pytest
from flows_harness import frozen_closing_year, hold_every_leaver
from sqlalchemy import select

from rentree.infra.schema import holds
from rentree.infra.settings import load_settings
from rentree.infra.workspace import open_workspace

pytestmark = pytest.mark.browser

BIN = Path(sys.executable).parent
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,1000",
)
# Bounds, generous for a loaded CI machine; each wait ends as soon as its condition holds.
STARTUP_SECONDS = 240  # a Prefect server on a fresh database, `rentree serve`'s deployments
RUN_SECONDS = 180  # a served run: the runner's subprocess started, the flow run to its state
PAGE_SECONDS = 60  # a page of the UI to show what is looked for
STAFF_DEPLOYMENT = "staff-import/rentree-staff-import"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Process:
    """A server started in its own session, its output in a log file; stopped at the end."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log_path = log
        self._log: IO[str] = log.open("w")
        self.popen = subprocess.Popen(
            args, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        self.popen.terminate()
        try:
            self.popen.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(timeout=30)
        self._log.close()


def wait_for(what: str, check: Callable[[], Any], timeout: float, *logs: Process) -> Any:
    """Ask `check` until it answers (a server not up yet raises: asked again) within
    `timeout` seconds; the servers' last log lines are in the failure."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            found = check()
        except Exception:
            found = None
        if found:
            return found
        if time.monotonic() > deadline:
            seen = "\n".join(f"--- {p.log_path.name}:\n{p.tail()}" for p in logs)
            raise AssertionError(f"{what}: not within {timeout:.0f} s\n{seen}")
        time.sleep(0.5)


@pytest.fixture
def chromium_paths() -> tuple[str, str]:
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if chromium is None or driver is None:
        sentence = (
            "chromium and chromium-driver are not installed; install them "
            "(`apt-get install chromium chromium-driver`, as `.ci/run` does)."
        )
        if os.environ.get("CI"):
            pytest.fail(sentence, pytrace=False)
        pytest.skip(sentence)
    return chromium, driver


@pytest.fixture
def browser(chromium_paths: tuple[str, str], tmp_path: Path) -> Iterator[Any]:
    """Headless Chromium through chromium-driver, a fresh profile in the test's folder."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, driver_path = chromium_paths
    options = webdriver.ChromeOptions()
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(flag)
    options.binary_location = chromium
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_page_load_timeout(PAGE_SECONDS)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def prefect_server(tmp_path: Path) -> Iterator[tuple[str, Process]]:
    """A Prefect server on loopback, its state in the test's folder, started but not waited
    for (the test prepares its directory meanwhile); yields its API URL and process."""
    port = free_port()
    home = tmp_path / "prefect"
    home.mkdir()
    api = f"http://127.0.0.1:{port}/api"
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        # the UI's pages call this API (their default is port 4200)
        "PREFECT_UI_API_URL": api,
    }
    env.pop("PREFECT_API_URL", None)
    server = Process(
        [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env,
        tmp_path / "prefect-server.log",
    )
    try:
        yield api, server
    finally:
        server.stop()


class Screens:
    """The browser's pages, each waited for by an explicit condition and photographed
    whether or not it showed what was looked for (its text kept beside when it did not)."""

    def __init__(self, driver: Any, folder: Path) -> None:
        self.driver = driver
        self.folder = folder
        folder.mkdir()

    def shot(self, name: str) -> None:
        self.driver.save_screenshot(str(self.folder / f"{name}.png"))

    def until(
        self, name: str, condition: Callable[[Any], Any], timeout: float = PAGE_SECONDS
    ) -> Any:
        from selenium.webdriver.support.ui import WebDriverWait

        try:
            wait = WebDriverWait(self.driver, timeout, poll_frequency=0.5)
            return wait.until(condition, message=f"{name}: not shown within {timeout} s")
        except Exception:
            body = self.driver.find_elements("tag name", "body")
            (self.folder / f"{name}.txt").write_text(body[0].text if body else "")
            raise
        finally:
            self.shot(name)


def run_badges(driver: Any) -> dict[str, str]:
    """The runs list: each flow run's id and the text of its state badge."""
    from selenium.webdriver.common.by import By

    badges = {}
    for row in driver.find_elements(By.CSS_SELECTOR, ".flow-run-list-item"):
        link = row.find_element(By.CSS_SELECTOR, "a.flow-run-bread-crumbs__flow-run-link")
        run_id = str(link.get_attribute("href")).rsplit("/", 1)[-1]
        badges[run_id] = row.find_element(By.CSS_SELECTOR, ".state-badge").text.strip()
    return badges


def test_an_operator_sees_the_hold_opens_its_reports_and_approves_it(
    tmp_path: Path,
    prefect_server: tuple[str, Process],
    browser: Any,
    monkeypatch: pytest.MonkeyPatch,
    prefect_harness: None,
) -> None:
    from prefect.client.orchestration import SyncPrefectClient
    from prefect.states import StateType
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as shown
    from selenium.webdriver.support.ui import Select

    api, server = prefect_server
    # The directory, while the server starts: a tiny region's closing year imported and
    # frozen (in this process, on the test harness), the new year's first staff file landed.
    env = {
        "RENTREE_DATABASE_URL": f"sqlite:///{tmp_path / 'rentree.db'}",
        "RENTREE_STORAGE_URL": str(tmp_path / "storage"),
        "RENTREE_APPROVAL_TIMEOUT_SECONDS": "900",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    new_year = frozen_closing_year(tmp_path, create=True)["new_year"]
    hold_every_leaver(monkeypatch)  # the staff file's one leaver holds it
    wait_for(
        "the Prefect server",
        lambda: urllib.request.urlopen(f"{api}/health", timeout=5),
        STARTUP_SECONDS,
        server,
    )

    # `rentree serve` against it, as `make serve` starts it: the deployments, and the local
    # storage folder's reports served on loopback.
    reports = f"http://127.0.0.1:{free_port()}"
    outer = {k: v for k, v in os.environ.items() if k != "RENTREE_REPORT_SERVER_URL"}
    serving = Process(
        [str(BIN / "rentree"), "serve"],
        {
            **outer,
            "PREFECT_API_URL": api,
            "PREFECT_HOME": str(tmp_path / "prefect-serve"),
            "PREFECT_RUNNER_POLL_FREQUENCY": "1",  # a created run starts within a second
            "RENTREE_REPORT_SERVER_PORT": reports.rsplit(":", 1)[1],
        },
        tmp_path / "rentree-serve.log",
    )
    ui = api.removesuffix("/api")
    screens = Screens(browser, tmp_path / "screenshots")
    try:
        with SyncPrefectClient(api=api) as client:
            deployment = wait_for(
                "the staff-import deployment",
                lambda: client.read_deployment_by_name(STAFF_DEPLOYMENT),
                STARTUP_SECONDS,
                serving,
            )
            # Two runs at once (the directory guard takes them in turn): one leaves the hold
            # pending (the first to plan holds the delivery, the other finds it held), the
            # other asks in its approval form.
            held = client.create_flow_run_from_deployment(
                deployment.id, parameters={"wait_for_approval": False}
            )
            paused = client.create_flow_run_from_deployment(deployment.id, parameters={})
            wait_for(
                "one run to end Held and the other to pause for approval",
                lambda: (
                    client.read_flow_run(held.id).state.name == "Held"
                    and client.read_flow_run(paused.id).state.type == StateType.PAUSED
                ),
                RUN_SECONDS,
                serving,
            )
            assert new_year in client.read_flow_run(paused.id).name

        # The runs list: neither run is a green Completed; each says what it waits for.
        browser.get(f"{ui}/runs")
        badges = screens.until(
            "1-runs-list",
            lambda d: (b := run_badges(d)) and {str(held.id), str(paused.id)} <= set(b) and b,
        )
        assert badges[str(held.id)] == "Held" and badges[str(paused.id)] == "Paused", badges

        # From here the pages are reached by clicking, as an operator does (no reload).
        # The paused run's artifacts: a card per report; the list of who goes missing opens
        # on its artifact page, whose link answers over HTTP from the report server.
        browser.find_element(By.CSS_SELECTOR, f"a[href='/runs/flow-run/{paused.id}']").click()
        screens.until("2-paused-run", shown.element_to_be_clickable((By.ID, "artifacts"))).click()
        screens.until(
            "3-artifacts",
            shown.element_to_be_clickable(
                (
                    By.XPATH,
                    "//a[.//*[contains(@class, 'artifact-card')]"
                    "[contains(., 'who-goes-missing.csv')]]",
                )
            ),
        ).click()
        link = screens.until(
            "4-report-link",
            shown.visibility_of_element_located(
                (By.CSS_SELECTOR, f"a[href^='{reports}/reports/'][href$='who-goes-missing.csv']")
            ),
        )
        assert link.text == "who-goes-missing.csv"
        with urllib.request.urlopen(link.get_attribute("href"), timeout=10) as answer:
            assert answer.status == 200
            assert answer.read().startswith(b"\xef\xbb\xbf")  # the CSV a spreadsheet opens

        # Back on the run: its approval form shows why it is held, what matters and the
        # change set's summary; no decision is chosen until the operator chooses one.
        browser.back()
        screens.until(
            "5-resume",
            shown.element_to_be_clickable((By.XPATH, "//button[normalize-space(.)='Resume']")),
        ).click()
        form = screens.until(
            "6-approval-form",
            lambda d: (
                (m := d.find_elements(By.CSS_SELECTOR, ".p-modal"))
                and "Change set summary" in m[0].text
                and m[0]
            ),
        )
        text = form.text
        assert "Why it is held" in text and "above the 0% threshold" in text
        assert "What matters" in text and "people newly missing beyond the expected" in text
        assert "users_missing" in text and "Fingerprint" in text
        decision = Select(form.find_element(By.CSS_SELECTOR, "select.p-native-select__control"))
        assert decision.all_selected_options == []
        decision.select_by_value("approve")
        form.find_element(By.TAG_NAME, "textarea").send_keys("Claire Martin")
        screens.shot("7-approval-filled")
        form.find_element(By.XPATH, ".//button[normalize-space(.)='Submit']").click()

        # The run applies (the served process's log is in the failure if it does not), then
        # its page's state badge turns Completed (the page follows the run).
        with SyncPrefectClient(api=api) as client:
            wait_for(
                "the approved run to end",
                lambda: client.read_flow_run(paused.id).state.is_final(),
                2 * RUN_SECONDS,
                serving,
            )
            done = client.read_flow_run(paused.id).state
        screens.until(
            "8-applied",
            shown.text_to_be_present_in_element(
                (By.CSS_SELECTOR, ".page-heading-flow-run .state-badge"), "Completed"
            ),
        )
        assert done.type == StateType.COMPLETED and done.name == "Completed", done
        ws = open_workspace(load_settings())
        with ws.engine.connect() as conn:
            decided = conn.execute(select(holds.c.status, holds.c.decided_by)).all()
        ws.engine.dispose()
        assert [d.status for d in decided] == ["approved"]
        assert decided[0].decided_by.startswith("Claire Martin")
    finally:
        serving.stop()
