"""The HTML report (issue 13.3): one self-contained file, escaped, 0600, filtered in a real browser.

The report is made by the real ``dss`` command with the test plugin installed
with pip (conftest's ``dss`` and ``sync_files``), and opened in Debian's
headless Chromium through selenium and ``/usr/bin/chromedriver`` (given
explicitly: selenium-manager downloads nothing). Without Chromium the browser
tests are skipped with the reason; ``DSS_REQUIRE_SERVERS=1`` (CI) makes that
a failure (``.ci/services/chromium.sh`` installs it there).
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import os
import re
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from dss_core.builtin.html_report import SPIKE_FLOOR, TrendPoint, labels, spikes

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
#: a name that would run a script, if it were not escaped
EVIL = "<script>document.title='pwned';window.pwned=1</script><img src=x onerror=\"window.pwned=2\">"

SOURCE = {"users": [
    {"idnumber": "1", "_lastfirst": "Doe, Jane", "department": "math"},
    {"idnumber": "2", "_lastfirst": f"Roe, {EVIL}", "department": "math"},
    {"idnumber": "3", "_lastfirst": "Poe, Ed", "department": "art"},
    {"idnumber": "4", "_lastfirst": "Lee, Kim", "department": "art"},
]}
DEST = {"users": [{"idnumber": "1", "name": "Jane Doe", "department": "math"},
                  {"idnumber": "2", "name": "Rick Roe", "department": "math"},
                  {"idnumber": "9", "name": "Old Timer", "department": "history"}],
        "groups": [{"idnumber": "math", "members": ["1", "9"]},
                   {"idnumber": "history", "members": ["9"]}]}


def _report(dss: Callable[..., Any], sync_files: Callable[..., Any], folder: Path,
            *args: str, fail: str = "3") -> Path:
    """A run of the test sync (user 3's actions fail) with --html; the file."""
    sync_files(SOURCE, DEST, fail=fail)
    done = dss("run", "testsync", "--html", "report.html", *args)
    assert done.code == 1, done
    return folder / "report.html"


# -- the file ------------------------------------------------------------------------------

def test_the_report_is_private_escaped_and_self_contained(dss: Callable[..., Any],
                                                          sync_files: Callable[..., Any],
                                                          tmp_path: Path) -> None:
    report = _report(dss, sync_files, tmp_path)
    assert stat.S_IMODE(report.stat().st_mode) == 0o600
    text = report.read_text(encoding="utf-8")
    # the name holding a script is shown as text, escaped; the page's own script is the only one
    assert EVIL not in text and "<img" not in text
    assert "&lt;script&gt;document.title=&#39;pwned&#39;" in text
    assert text.count("<script") == 1
    # nothing is fetched: no tag names a URL (src, href...), no style imports or loads one
    tags = re.findall(r"<[a-zA-Z][^>]*>", text)
    assert not [t for t in tags if re.search(r"\s(?:src|href|srcset|action|poster|data)=", t)]
    assert not [t for t in tags if t.startswith(("<link", "<iframe", "<object", "<embed"))]
    style = text[text.index("<style>"):text.index("</style>")]
    assert not re.search(r"@import|url\(|https?:", style)
    # the policy lets only the page's own style and script run (by their hashes)
    found = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', text)
    assert found is not None
    policy = html.unescape(found[1])
    assert "default-src 'none'" in policy
    for tag in ("script", "style"):
        body = re.search(rf"<{tag}>(.*?)</{tag}>", text, re.S)
        assert body is not None
        digest = base64.b64encode(hashlib.sha256(body[1].encode()).digest()).decode()
        assert f"{tag}-src 'sha256-{digest}'" in policy


def test_the_list_has_every_action_failures_first_with_before_and_after(
        dss: Callable[..., Any], sync_files: Callable[..., Any], tmp_path: Path) -> None:
    text = _report(dss, sync_files, tmp_path, "--report", "report.json").read_text(encoding="utf-8")
    data = json.loads((tmp_path / "report.json").read_text())
    rows = re.findall(r'<tr data-kind="(\w+)" data-branch="([\w.]+)" data-status="(\w+)"', text)
    assert len(rows) == data["totals"]["actions"] == len(data["actions"])
    failed = [a for a in data["actions"] if a["result"] in ("failure", "exception")]
    assert failed and all(r[2] in ("failure", "exception") for r in rows[:len(failed)])
    assert all(r[2] not in ("failure", "exception") for r in rows[len(failed):])
    body = text[text.index('<table id="actions">'):]
    # an update: old and new value; a new object: its tracked values; a retired one: its last
    assert '<span class="name">name</span> Rick Roe</div>' in body
    assert '<span class="name">department</span> art</div>' in body  # new_users 3 and 4
    assert '<span class="name">name</span> Old Timer</div>' in body  # old_users 9
    assert "lms.json[users] item 3" in body  # where the retired one came from


def test_html_into_a_missing_folder_stops_before_anything_is_applied(
        dss: Callable[..., Any], sync_files: Callable[..., Any], tmp_path: Path) -> None:
    _, dst = sync_files(SOURCE, DEST)
    before = dst.read_text()
    done = dss("run", "testsync", "--html", "nowhere/report.html")
    assert done.code == 2, done
    assert done.err.splitlines()[0] == (
        "dss: error: --html nowhere/report.html: cannot write the HTML report there "
        "(folder 'nowhere' does not exist)")
    assert dst.read_text() == before


def test_a_stopped_run_says_why(dss: Callable[..., Any], sync_files: Callable[..., Any],
                                tmp_path: Path) -> None:
    sync_files(SOURCE, DEST)
    assert dss("run", "testsync").code == 0
    sync_files({"users": []}, DEST)
    done = dss("plan", "testsync", "--html", "plan.html")
    assert done.code == 3, done
    text = (tmp_path / "plan.html").read_text(encoding="utf-8")
    assert "exit 3: stopped by a gate, a limit or the lock: nothing was applied" in text
    assert "<li>src.users: the source is empty (0 objects, last accepted 4)" in text


def test_quarantined_records_and_the_actions_held_back(dss: Callable[..., Any],
                                                      sync_files: Callable[..., Any],
                                                      tmp_path: Path) -> None:
    users = [*SOURCE["users"], {"idnumber": "", "_lastfirst": "Nobody, <b>X</b>"},
             {"idnumber": "5", "_lastfirst": "no comma: the name cannot be computed"}]
    sync_files({"users": users}, DEST)
    config = tmp_path / "dss.toml"
    config.write_text('on_bad_record = "quarantine"\nquarantine_limit = "50%"\n'
                      + config.read_text())
    done = dss("plan", "testsync", "--html", "plan.html", "--report", "plan.json")
    assert done.code == 1, done
    data = json.loads((tmp_path / "plan.json").read_text())
    text = (tmp_path / "plan.html").read_text(encoding="utf-8")
    assert "exit 1: planned; some records are quarantined" in text
    table = text[text.index('<table class="rejects" id="quarantined">'):]
    table = table[:table.index("</table>")]
    assert re.findall(r"<tr><td>src\.users</td><td>([^<]*)</td><td>([^<]*)</td>", table) == [
        ("(unreadable)", "export.json[users] item 5"), ("5", "export.json[users] item 6")]
    assert f'<span class="number">{data["totals"]["held"]}</span> held back' in text
    held = re.findall(r'data-status="held"', text)
    assert len(held) == data["totals"]["held"] > 0
    assert "<b>" not in text


def test_a_part_of_the_plan_says_how_much_is_left(dss: Callable[..., Any],
                                                 sync_files: Callable[..., Any],
                                                 tmp_path: Path) -> None:
    sync_files(SOURCE, DEST)
    done = dss("plan", "testsync", "--only", "new", "--html", "plan.html", "--report", "plan.json")
    assert done.code == 0, done
    data = json.loads((tmp_path / "plan.json").read_text())
    text = (tmp_path / "plan.html").read_text(encoding="utf-8")
    left = data["left_out"]
    assert left > 0 and f"{left} more actions of the plan left for another run" in text
    assert set(re.findall(r'<tr data-kind="(\w+)"', text)) == {"new"}


def test_the_trend_marks_a_night_of_many_retirements(dss: Callable[..., Any],
                                                    sync_files: Callable[..., Any],
                                                    tmp_path: Path) -> None:
    people = [{"idnumber": str(i), "_lastfirst": f"Last{i}, First{i}", "department": "math"}
              for i in range(1, 41)]
    src, dst = sync_files({"users": people}, {"users": [], "groups": []})
    assert dss("run", "testsync").code == 0  # the first sync: 40 new
    for night in range(4):  # quiet nights: one rename each
        people[night]["_lastfirst"] = f"Renamed{night}, First{night}"
        src.write_text(json.dumps({"users": people}))
        assert dss("run", "testsync").code == 0
    src.write_text(json.dumps({"users": people[:25]}))  # 15 leave at once
    done = dss("run", "testsync", "--accept", "src.users", "--allow-deletions", "100",
               "--html", "report.html")
    assert done.code == 0, done
    text = (tmp_path / "report.html").read_text(encoding="utf-8")
    jumps = text[text.index('<section class="alert warn" id="jumps">'):]
    jumps = jumps[:jumps.index("</section>")]
    assert "<li>15 old, where the median of the 5 runs before was 0</li>" in jumps
    trend = text[text.index('<section id="trend">'):text.index('<section id="list">')]
    assert trend.count("(this one)") >= 1
    assert len(re.findall(r'class="bar spike" data-kind="old"', trend)) == 1
    assert "6 runs, oldest first: those that applied" in trend


def test_spikes_against_the_median_of_the_runs_before() -> None:
    quiet = [TrendPoint(f"n{i}", "", {"old": 2, "update": 5}) for i in range(5)]
    night = TrendPoint("big", "", {"old": SPIKE_FLOOR + 20, "update": 6})
    small = TrendPoint("small", "", {"old": 7})  # more than 3x the median, under the floor
    planned = TrendPoint("plan", "", {"old": 500}, plan=True)
    points = [*quiet, night, small, planned, TrendPoint("after", "", {"old": 2})]
    spikes(points)
    assert [p.spikes for p in points] == [[], [], [], [], [], ["old"], [], ["old"], []]
    assert night.notes == ["30 old, where the median of the 5 runs before was 2"]
    first = [TrendPoint("a", "", {"new": 900}), TrendPoint("b", "", {"new": 1})]
    spikes(first)  # too few runs before to judge
    assert all(not p.spikes for p in first)


def test_trend_labels_are_as_short_as_the_runs_allow() -> None:
    nights = ["2025-05-12T02:00:03+00:00", "2025-05-13T02:00:01+00:00"]
    assert labels(nights) == ["05-12", "05-13"]
    assert labels([*nights, "2025-05-13T14:30:00+00:00"]) == ["05-12 02:00", "05-13 02:00",
                                                              "05-13 14:30"]
    assert labels(["2025-05-13T14:30:00+00:00", "2025-05-13T14:30:09+00:00", "?"]) == [
        "14:30:00", "14:30:09", "?"]


# -- in Chromium -----------------------------------------------------------------------------

def _browser_missing() -> str | None:
    if not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)):
        return f"{CHROMIUM} and {CHROMEDRIVER} are not installed (.ci/services/chromium.sh)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium driven by Debian's chromedriver (never a downloaded one)."""
    missing = _browser_missing()
    if missing:
        if os.environ.get("DSS_REQUIRE_SERVERS") == "1":
            pytest.fail(f"DSS_REQUIRE_SERVERS=1 but {missing}")
        pytest.skip(missing)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,1000"):
        options.add_argument(arg)
    os.environ.setdefault("SE_OFFLINE", "true")  # selenium-manager, were it asked, stays offline
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _visible(browser: Any) -> list[list[str]]:
    from selenium.webdriver.common.by import By

    rows = browser.find_elements(By.CSS_SELECTOR, "#actions tbody tr")
    return [[cell.text for cell in row.find_elements(By.TAG_NAME, "td")]
            for row in rows if row.is_displayed()]


def test_in_chromium_the_list_filters_by_search_kind_and_result(
        browser: Any, dss: Callable[..., Any], sync_files: Callable[..., Any],
        tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    browser.get(_report(dss, sync_files, tmp_path).as_uri())
    # the escaped script did not run; its text is shown as written
    assert browser.title.startswith("dss run testsync")
    assert browser.execute_script("return window.pwned === undefined")
    everything = _visible(browser)
    assert len(everything) == 8
    assert everything[0][1] == "exception" and everything[0][4] == "3"  # failures first
    shown = browser.find_element(By.ID, "shown")
    assert shown.text == "8 actions"
    renamed = next(r for r in everything if r[4] == "2")
    assert EVIL in renamed[6]

    search = browser.find_element(By.ID, "search")
    search.send_keys("old timer")
    rows = _visible(browser)
    assert [(r[2].split()[0], r[4]) for r in rows] == [("old", "9")]
    assert shown.text == "1 of 8 actions shown"

    search.clear()
    search.send_keys("math")  # anywhere in the row: the math group's member changes
    assert [(r[2].split()[0], r[4]) for r in _visible(browser)] == [("add", "math"),
                                                                    ("remove", "math")]

    search.clear()
    Select(browser.find_element(By.ID, "kind")).select_by_value("new")
    rows = _visible(browser)
    assert sorted(r[4] for r in rows) == ["3", "4", "art"]
    assert all(r[2].startswith("new") for r in rows)
    Select(browser.find_element(By.ID, "status")).select_by_value("failed")
    assert [r[4] for r in _visible(browser)] == ["3"]
    Select(browser.find_element(By.ID, "branch")).select_by_value("dst.groups")
    assert _visible(browser) == []
    assert shown.text == "0 of 8 actions shown"

    browser.find_element(By.ID, "clear").click()
    assert len(_visible(browser)) == 8


def test_in_chromium_a_bar_of_the_chart_lists_its_actions(
        browser: Any, dss: Callable[..., Any], sync_files: Callable[..., Any],
        tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    browser.get(_report(dss, sync_files, tmp_path).as_uri())
    bar = browser.find_element(By.CSS_SELECTOR,
                               '#chart .bar[data-branch="dst.groups"][data-kind="old"]')
    assert bar.find_element(By.TAG_NAME, "title").get_attribute("textContent") == \
        "dst.groups: 1 old"
    browser.execute_script("arguments[0].dispatchEvent(new MouseEvent('click', {bubbles: true}))",
                           bar)
    rows = _visible(browser)
    assert [(r[2].split()[0], r[3], r[4]) for r in rows] == [("old", "dst.groups", "history")]


def test_in_chromium_the_page_loads_nothing_from_the_network(
        browser: Any, dss: Callable[..., Any], sync_files: Callable[..., Any],
        tmp_path: Path) -> None:
    browser.get(_report(dss, sync_files, tmp_path).as_uri())
    fetched = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)")
    assert fetched == []
