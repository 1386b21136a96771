"""The pages in real headless Chromium (Debian's /usr/bin/chromium) against the app served by
uvicorn, with Temporal's time-skipping server and the real worker behind it.

A coordinator starts 湖東定住自立圏; 彦根市 drafts the agreement with 愛荘町 on the zone page;
愛荘町 logs in and records its council's resolution from its inbox (first with a date in the
future, which is refused next to the field); 彦根市 records its own; the zone page then shows
the agreement concluded, with 和暦 dates. One screenshot goes to /tmp for a human to look at.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from models.era import format_date_ja
from tests import factories as f
from tests.web_fixtures import LiveStack, jst_today

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOT = Path("/tmp/kenflow-zone-concluded.png")
HUB, NB = f.HIKONE, f.NEIGHBOURS[0]

pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="apt-get install -y chromium")


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStack]:
    with LiveStack(tmp_path_factory.mktemp("live")) as stack:
        yield stack


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


def login(browser: Browser, live: LiveStack, role: str, code: str | None = None) -> Page:
    page = browser.new_context(locale="ja-JP", viewport={"width": 1280, "height": 1000}).new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{live.url}/login")
    page.get_by_label("アクセストークン").fill(live.token(role, code))
    page.get_by_role("button", name="ログイン").click()
    return page


def test_start_zone_and_conclude_an_agreement(live: LiveStack, browser: Browser) -> None:
    # the coordinator starts the zone from the dashboard
    ministry = login(browser, live, "ministry")
    expect(ministry.get_by_role("heading", name="全国ダッシュボード")).to_be_visible()
    ministry.get_by_role("link", name="圏域の開始").click()
    ministry.get_by_label("圏域の名称").fill("湖東定住自立圏")
    ministry.get_by_label("団体コード(5桁または6桁)").fill("25202")
    ministry.get_by_label("市の名称").fill("彦根市")
    ministry.get_by_label("人口", exact=True).fill("113679")
    ministry.get_by_label("昼夜間人口比率").fill("1.06")
    ministry.get_by_label("中心的な役割を担う意思").fill("圏域の中心として都市機能を担う。")
    ministry.get_by_label("都市機能の集積状況").fill("総合病院、大学、大規模商業施設が集積。")
    ministry.get_by_label("連携を想定する近隣市町村と取組").fill("愛荘町ほかと医療・交通で連携する。")
    ministry.get_by_role("button", name="開始する").click()
    expect(ministry.get_by_role("heading", name="湖東定住自立圏")).to_be_visible()
    expect(ministry.locator(".flash")).to_contain_text("ワークフローを開始しました")
    zone_url = ministry.url

    # the central city drafts the agreement with 愛荘町 on the zone page
    hub = login(browser, live, "municipality", HUB.code)
    expect(hub.get_by_role("heading", name="彦根市(252026)の受信箱")).to_be_visible()
    hub.goto(zone_url)
    hub.get_by_text("協定案を作成する(中心市)").click()
    hub.get_by_label("相手方の団体コード").fill(NB.code)
    hub.get_by_label("相手方の名称").fill("愛荘町")
    hub.get_by_label("具体的取組: 生活機能の強化").fill("病児・病後児保育の広域利用")
    hub.get_by_label("具体的取組: 結びつきやネットワークの強化").fill("コミュニティバスの広域運行")
    hub.get_by_label("具体的取組: 圏域マネジメント能力の強化").fill("合同職員研修")
    hub.get_by_role("button", name="協定案を作成").click()
    expect(hub.locator(".flash")).to_contain_text("愛荘町との定住自立圏形成協定の案を作成")

    # 愛荘町 records its council's resolution from its inbox; a future date is refused in place
    town = login(browser, live, "municipality", NB.code)
    card = town.locator("section.task", has_text="議会の議決")
    expect(card).to_contain_text("相手方: 彦根市")
    card.get_by_label("議決日").fill("2099-04-01")
    card.get_by_label("議案番号・議決番号").fill("議案第12号")
    card.get_by_role("button", name="議決を登録").click()
    expect(town.locator("section.task .field-error")).to_contain_text("未来の日付")
    card = town.locator("section.task", has_text="議会の議決")
    card.get_by_label("議決日").fill(jst_today().isoformat())
    card.get_by_role("button", name="議決を登録").click()
    expect(town.locator("section.task.done")).to_contain_text("愛荘町議会が彦根市との協定を議決")

    # the other party, 彦根市, records its own
    hub.goto(f"{live.url}/inbox")
    card = hub.locator("section.task", has_text="議会の議決")
    card.get_by_label("議案番号・議決番号").fill("議第30号")
    card.get_by_role("button", name="議決を登録").click()
    expect(hub.locator("section.task.done")).to_contain_text("協定締結")

    # the coordinator sees the agreement concluded, dates in 和暦
    ministry.goto(zone_url)
    row = ministry.locator("#agreements tbody tr", has_text="愛荘町")
    expect(row.locator(".badge")).to_have_text("締結済")
    expect(row).to_contain_text(f"{format_date_ja(jst_today())}議決(議案第12号)")
    expect(ministry.locator("h1 .badge").nth(1)).to_have_text("ビジョン策定")
    expect(ministry.locator("#timeline")).to_contain_text("両議会の議決により協定締結")
    ministry.screenshot(path=str(SCREENSHOT), full_page=True)
    assert SCREENSHOT.stat().st_size > 10_000


def test_older_timeline_entries_come_in_place(browser: Browser, tmp_path: Path) -> None:
    """A zone with 130 timeline entries shows its newest 50; 以前の経過を表示 brings the 50
    before them in place, above, and so on until the first."""
    from tests.test_timeline_paging import ENTRIES, long_zone

    with LiveStack(tmp_path) as live:
        assert live.engine is not None
        zid = long_zone(live.engine)
        page = login(browser, live, "ministry")
        page.goto(f"{live.url}/zones/{zid}")
        entries = page.locator("#timeline > li:not(.older)")
        expect(entries).to_have_count(50)
        newest = entries.last.inner_text()
        for shown in (100, ENTRIES):
            page.get_by_role("link", name="以前の経過を表示").click()
            expect(entries).to_have_count(shown)
        expect(page.get_by_role("link", name="以前の経過を表示")).to_have_count(0)
        assert entries.last.inner_text() == newest  # older ones went above, not below
        expect(entries.first).to_contain_text("ワークフローを開始")


def test_every_copy_of_a_zone_pages_back_from_its_page(browser: Browser, tmp_path: Path) -> None:
    """The zone page lists the newest 50 copies; its link opens every copy, 100 a page."""
    from tests.test_pages import add_copies
    from tests.test_timeline_paging import long_zone

    with LiveStack(tmp_path) as live:
        assert live.engine is not None
        zid = long_zone(live.engine)
        add_copies(live.engine, zid, 130, lambda i: "mic")
        page = login(browser, live, "ministry")
        page.goto(f"{live.url}/zones/{zid}")
        rows = page.locator("#notices tbody tr")
        expect(rows).to_have_count(50)
        expect(rows.first).to_contain_text("試験送付129")
        link = page.get_by_role("link", name=re.compile(r"すべての写し・通知を表示（\d+件）"))
        total = int(re.findall(r"\d+", link.inner_text())[0])
        assert 130 <= total <= 200  # and the zone's own copies, older than these
        link.click()
        expect(page.locator("h1")).to_contain_text("1/2ページ")
        expect(rows).to_have_count(100)
        page.get_by_role("link", name="以前の送付へ").click()
        expect(rows).to_have_count(total - 100)
        expect(rows.nth(29)).to_contain_text("試験送付000")
        page.get_by_role("link", name="新しい送付へ").click()
        expect(rows.first).to_contain_text("試験送付129")
