"""The web UI in a real browser: Debian's chromium driven by playwright (from pip).

No browser download: ``.ci/run`` (through ``./dev``) installs the distribution's chromium.
Without chromium or playwright these tests skip, unless FAKEMMS_REQUIRE_BROWSER=1 (CI) makes
that a failure.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from conftest import ACCOUNT, PNG_1PX, Fake, om_body

from fakemms.models import Part
from fakemms.ui.present import charset_of, presentation

try:
    from playwright.sync_api import Browser, Page, expect, sync_playwright
except ImportError:  # pragma: no cover - the test extra installs it
    sync_playwright = None

CHROMIUM = shutil.which("chromium")
SCREENSHOTS = os.environ.get("FAKEMMS_SCREENSHOTS")  # a directory: write the README's images


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if sync_playwright is None or CHROMIUM is None:
        if os.environ.get("FAKEMMS_REQUIRE_BROWSER"):
            pytest.fail("chromium and playwright are required (apt-get install -y chromium)")
        pytest.skip("needs Debian's chromium and playwright from pip")
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM)
        yield launched
        launched.close()


@pytest.fixture
def open_page(browser: Browser) -> Iterator[Callable[..., Page]]:
    """New pages in fresh contexts (``javascript=False`` for one without scripts); each page
    records the dialogs it opened in ``page.dialogs`` and dismisses them (accepts them once
    ``page.accept_dialogs`` is set)."""
    contexts = []

    def make(javascript: bool = True) -> Page:
        context = browser.new_context(java_script_enabled=javascript,
                                      viewport={"width": 1280, "height": 900})
        contexts.append(context)
        page = context.new_page()
        page.dialogs = []  # type: ignore[attr-defined]
        page.accept_dialogs = False  # type: ignore[attr-defined]
        page.on("dialog", lambda d: (page.dialogs.append(d.message),
                                     d.accept() if page.accept_dialogs else d.dismiss()))
        return page

    yield make
    for context in contexts:
        context.close()


def png(width: int = 40, height: int = 30) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 40, 40)).save(out, "PNG")
    return out.getvalue()


def send_mt(fake: Fake, subject: str = "Hello from the app",
            parts: list[tuple[dict[str, str], bytes]] | None = None) -> str:
    fields = {"type": "MT", "source": "88600", "destination": "12515550130",
              "mtConfig": "config1", "subject": subject}
    answer = fake.send(om_body(fields, parts))
    assert answer.status_code == 202, answer.text
    return str(answer.json()["mtId"])


def account(receiver: Any, **extra: Any) -> dict[str, Any]:
    return {"accounts": [{**ACCOUNT, "mt_configs": {"config1": {"dlr_url": receiver.url("/dlr"),
                                                                "region": "US"}},
                          "mo": {"url": receiver.url("/mo"), "format": "http"}, **extra}]}


def live(page: Page) -> None:
    expect(page.locator("#live-state")).to_have_text("live")


# --- the list ------------------------------------------------------------------------------
def test_an_mt_appears_in_the_list_without_a_reload(fake: Fake, open_page: Callable) -> None:
    page = open_page()
    page.goto(fake.url + "/")
    expect(page.get_by_text("No messages yet")).to_be_visible()
    live(page)
    page.evaluate("window.notReloaded = true")
    message_id = send_mt(fake, subject="Live one")
    row = page.locator(f'tr[data-id="{message_id}"]')
    expect(row).to_contain_text("Live one")
    expect(row).to_contain_text("12515550130")
    expect(row).to_have_class("new")  # highlighted as it arrives
    assert page.evaluate("window.notReloaded") is True
    expect(page.locator("#messages .count")).to_have_text("1 message.")


@pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")
def test_the_empty_list_offers_a_command_that_sends_an_mt(
        fake: Fake, open_page: Callable) -> None:
    page = open_page()
    page.goto(fake.url + "/")
    command = page.locator("pre.try").inner_text()
    sent = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=10)
    assert '"mtId"' in sent.stdout, sent.stderr
    expect(page.locator("table.messages tbody tr")).to_contain_text("Hello")


def test_the_list_reads_and_filters_without_javascript(fake: Fake, open_page: Callable) -> None:
    send_mt(fake, subject="First")
    fake.post("/_fakemms/api/mo", json={"account": "acme", "destination": "88600",
                                        "subject": "From a handset"})
    page = open_page(javascript=False)
    page.goto(fake.url + "/")
    rows = page.locator("table.messages tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("From a handset")  # newest first
    page.get_by_label("Direction").select_option("mt")
    page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("First")
    assert "direction=mt" in page.url
    expect(page.locator("#live-state")).to_have_text("static")


def test_the_banner_says_the_clock_is_virtual_and_advance_lets_the_report_go(
        make_fake: Callable, receiver: Any, open_page: Callable) -> None:
    fake = make_fake({**account(receiver), "clock": "virtual"})
    message_id = send_mt(fake)
    page = open_page()
    page.goto(f"{fake.url}/_fakemms/ui/messages/{message_id}")
    banner = page.locator("#clock-state")
    expect(banner).to_contain_text("virtual")
    expect(banner).to_contain_text("Waiting for an advance: 1 report.")
    live(page)
    page.get_by_label("Advance by").fill("1h")
    page.get_by_role("button", name="Advance").click()
    expect(page.locator("#reports tbody tr")).to_have_count(1)
    expect(page.locator("#reports")).to_contain_text("Retrieved")
    expect(page.locator("#callbacks .attempt")).to_contain_text("HTTP 200")
    assert receiver.wait_for(1)[0].path == "/dlr"
    expect(banner).not_to_contain_text("Waiting")


# --- a message -------------------------------------------------------------------------------
def test_the_message_page_shows_the_image_decoded_and_the_text(
        fake: Fake, open_page: Callable) -> None:
    message_id = send_mt(fake, parts=[
        ({"Content-Type": "image/png", "Content-Id": "photo.png"}, png(40, 30)),
        ({"Content-Type": "text/plain; charset=iso-8859-1", "Content-Id": "text.txt"},
         "Ça marche: <b>not bold</b>".encode("latin-1")),
        ({"Content-Type": "image/jpeg", "Content-Id": "broken.jpg"}, b"not a jpeg")])
    page = open_page()
    page.goto(f"{fake.url}/_fakemms/ui/messages/{message_id}")
    image = page.locator("#part-0 img")
    expect(image).to_be_visible()
    page.wait_for_function("document.querySelector('#part-0 img').complete")
    assert image.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [40, 30]
    expect(page.locator("#part-1 pre")).to_have_text("Ça marche: <b>not bold</b>")
    expect(page.locator("#part-2")).to_contain_text("this image does not decode")
    expect(page.locator("h1")).to_contain_text(message_id)
    expect(page.locator("#fields")).to_contain_text("config1")
    page.goto(f"{fake.url}/_fakemms/ui/messages/latest")  # the page of one message, by id
    assert page.url.endswith(f"/_fakemms/ui/messages/{message_id}")


def test_a_smil_presentation_is_laid_out_as_slides(fake: Fake, open_page: Callable) -> None:
    smil = (b'<smil><head><layout><region id="Image"/><region id="Text"/></layout></head><body>'
            b'<par dur="3000ms"><img src="cid:photo.png" region="Image"/>'
            b'<text src="cid:one.txt" region="Text"/></par>'
            b'<par dur="2s"><text src="cid:two.txt" region="Text"/>'
            b'<audio src="cid:missing.amr"/></par></body></smil>')
    message_id = send_mt(fake, parts=[
        ({"Content-Type": "application/smil", "Content-Id": "presentation"}, smil),
        ({"Content-Type": "image/png", "Content-Id": "photo.png"}, png()),
        ({"Content-Type": "text/plain", "Content-Id": "one.txt"}, b"first slide"),
        ({"Content-Type": "text/plain", "Content-Id": "two.txt"}, b"second slide")])
    page = open_page()
    page.goto(f"{fake.url}/_fakemms/ui/messages/{message_id}")
    slides = page.locator(".slides > li")
    expect(slides).to_have_count(2)
    expect(slides.nth(0)).to_contain_text("Slide 1 · 3000ms")
    expect(slides.nth(0)).to_contain_text("first slide")
    expect(slides.nth(0).locator("img")).to_be_visible()
    expect(slides.nth(1)).to_contain_text("second slide")
    expect(slides.nth(1)).to_contain_text("cid:missing.amr, which the message does not have")


def test_a_report_sent_from_the_page_reaches_the_application(
        make_fake: Callable, receiver: Any, open_page: Callable) -> None:
    fake = make_fake({**account(receiver), "clock": "virtual"})
    message_id = send_mt(fake)
    page = open_page()
    page.goto(f"{fake.url}/_fakemms/ui/messages/{message_id}")
    page.get_by_label("Status").select_option("Rejected")
    page.get_by_label("Description").fill("handset said no")
    page.get_by_role("button", name="Send report").click()
    expect(page.locator("#reports")).to_contain_text("handset said no")
    expect(page.locator("#fields")).to_contain_text("Rejected")
    dlr = receiver.wait_for(1)[0]
    assert dlr.path == "/dlr" and b"Rejected" in dlr.body
    expect(page.locator("#callbacks .attempt")).to_contain_text("success")


def test_the_callback_timeline_shows_each_attempt_and_the_applications_answer(
        make_fake: Callable, receiver: Any, open_page: Callable) -> None:
    fake = make_fake({**account(receiver), "clock": "virtual"})
    answers = iter([(500, b"database is down"), (200, b"")])
    receiver.answer = lambda r: next(answers)
    message_id = send_mt(fake)
    fake.post("/_fakemms/api/clock/advance", json={"duration": "1s"})  # the report; retry in 15 s
    page = open_page()
    page.goto(f"{fake.url}/_fakemms/ui/messages/{message_id}")
    first = page.locator("#callbacks .attempt").first
    expect(first).to_contain_text("attempt 1 → rejected, HTTP 500")
    expect(first).to_contain_text(" ms")
    first.get_by_text("the application's answer").click()
    expect(first.locator("pre")).to_have_text("database is down")
    expect(page.locator("#callbacks .state")).to_have_text("retrying")
    expect(page.locator("#callbacks header")).to_contain_text("next attempt")
    live(page)
    page.get_by_label("Advance by").fill("1h")
    page.get_by_role("button", name="Advance").click()
    expect(page.locator("#callbacks .attempt").nth(1)).to_contain_text(
        "attempt 2 → success, HTTP 200")
    expect(page.locator("#callbacks .state")).to_have_text("delivered")
    assert len(receiver.wait_for(2)) == 2


# --- actions ---------------------------------------------------------------------------------
def test_an_mo_from_the_form_reaches_the_application(
        make_fake: Callable, receiver: Any, open_page: Callable) -> None:
    fake = make_fake(account(receiver))
    page = open_page()
    page.goto(fake.url + "/")
    page.get_by_role("link", name="MO", exact=True).click()
    page.get_by_label("Account").select_option("acme")
    page.get_by_label("From").fill("12515550199")
    page.get_by_label("To").fill("88600")
    page.get_by_label("Subject").fill("Photo from my phone")
    page.get_by_label("Text").fill("look at this")
    page.get_by_label("Attachment").set_input_files(
        files=[{"name": "cat.png", "mimeType": "image/png", "buffer": png(8, 8)}])
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#result")).to_contain_text("sent")
    mo = receiver.wait_for(1)[0]
    assert mo.path == "/mo"
    assert b"Photo from my phone" in mo.body and b"look at this" in mo.body
    assert b"12515550199" in mo.body
    page.locator("#result a").click()
    expect(page.locator("#part-1 img")).to_be_visible()
    expect(page.locator("#callbacks .attempt")).to_contain_text("success")
    # another format than the account's: an MM7 DeliverReq
    page.get_by_role("link", name="MO", exact=True).click()
    page.get_by_label("Format").select_option("mm7-6.8.0")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#result")).to_contain_text("sent")
    assert b"DeliverReq" in receiver.wait_for(2)[1].body


def test_controls_change_an_account_load_a_scenario_and_reset(
        fake: Fake, open_page: Callable) -> None:
    send_mt(fake)
    page = open_page()
    page.goto(fake.url + "/_fakemms/ui/controls")
    page.get_by_label("TPS").fill("2.5")
    page.get_by_label("Per day").fill("100")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#result")).to_contain_text("account acme saved")
    limits = fake.get("/_fakemms/api/accounts/acme").json()
    assert (limits["tps"], limits["max_per_day"]) == (2.5, 100)

    page.get_by_label("Scenario (YAML)").fill(
        "name: all-rejected\nrules:\n  - name: every\n    reports:\n"
        "      - {status: Rejected, after: 1s}\n")
    page.get_by_role("button", name="Load (add)").click()
    expect(page.locator("#scenarios")).to_contain_text("all-rejected")
    assert [s["name"] for s in fake.get("/_fakemms/api/scenarios").json()["scenarios"]] == [
        "all-rejected"]
    page.get_by_label("Scenario (YAML)").fill("name: quiet\nrules: []\n")
    page.get_by_role("button", name="Switch to it (replace all)").click()
    expect(page.locator("#scenarios")).not_to_contain_text("all-rejected")
    expect(page.locator("#scenarios")).to_contain_text("quiet")
    page.get_by_role("button", name="Clear all").click()
    expect(page.locator("#scenarios")).to_contain_text("No scenario loaded")

    page.get_by_role("button", name="Pause").click()
    expect(page.locator("#clock-state")).to_contain_text("Clock paused at")
    assert fake.get("/_fakemms/api/clock").json()["paused"] is True
    page.get_by_role("button", name="Resume").click()
    expect(page.locator("#clock-state")).to_contain_text("Clock: real time")

    page.accept_dialogs = True
    page.get_by_role("button", name="Reset").click()
    expect(page.locator("#result")).to_have_text("reset")
    assert page.dialogs == ["Forget every message and callback?"]
    assert fake.get("/_fakemms/api/messages").json()["count"] == 0


def test_an_action_the_api_refuses_says_why(fake: Fake, open_page: Callable) -> None:
    page = open_page()
    page.goto(fake.url + "/_fakemms/ui/controls")
    page.get_by_label("Scenario (YAML)").fill("rules: [1, 2]\n")
    page.get_by_role("button", name="Load (add)").click()
    expect(page.locator("#result.bad")).to_contain_text("HTTP 400")


# --- hostile content ------------------------------------------------------------------------
def test_hostile_subjects_and_parts_never_run(
        fake: Fake, receiver: Any, open_page: Callable) -> None:
    beacon = receiver.url("/ran")
    subject = (f'<script>fetch("{beacon}")</script><img src=x onerror="fetch(\'{beacon}\')">')
    html = (f'<script>fetch("{beacon}");parent.pwned=1</script>'
            f'<img src=x onerror="fetch(\'{beacon}\')"><b>bold</b>').encode()
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" onload="fetch(\'{beacon}\')">'
           f'<script>fetch("{beacon}")</script><rect width="9" height="9"/></svg>').encode()
    smil = (b'<smil><body><par><img src="javascript:alert(1)"/><text src="cid:page.html"/>'
            b'</par></body></smil>')
    message_id = send_mt(fake, subject=subject, parts=[
        ({"Content-Type": "text/html", "Content-Id": "page.html"}, html),
        ({"Content-Type": "image/svg+xml", "Content-Id": '"><script>alert(1)</script>'}, svg),
        ({"Content-Type": "application/smil", "Content-Id": "presentation"}, smil)])
    page = open_page()
    page.goto(fake.url + "/")
    expect(page.locator("td.subject")).to_contain_text("<script>fetch(")
    page.goto(f"{fake.url}/_fakemms/ui/messages/{message_id}", wait_until="load")
    expect(page.locator(".subject-line")).to_have_text(subject)
    expect(page.locator("#part-1 header")).to_contain_text('"><script>alert(1)</script>')
    expect(page.locator(".slides")).to_contain_text("javascript:alert(1), which the message")
    expect(page.locator("iframe[sandbox]")).to_have_count(3)  # the HTML twice (slide, part)
    assert page.evaluate("window.pwned") is None
    for index in (0, 1):  # a part opened on its own is sandboxed too
        page.goto(f"{fake.url}/_fakemms/ui/messages/{message_id}/parts/{index}",
                  wait_until="load")
    assert page.dialogs == []
    # the fetches above would have reached the receiver first had anything run
    assert receiver.received == []
    # and the payload is live: on a page of no protection it calls out at once
    page.goto(receiver.url("/blank"))
    page.set_content(html.decode())
    # (/blank, /favicon.ico and two /ran: any three of them hold a /ran)
    assert "/ran" in [r.path for r in receiver.wait_for(3)]


def test_parts_are_served_inert(fake: Fake) -> None:
    message_id = send_mt(fake, parts=[
        ({"Content-Type": "text/html", "Content-Id": "a.html"}, b"<script>1</script>"),
        ({"Content-Type": "image/png\u000b, text/html", "Content-Id": "b"}, PNG_1PX)])
    first = fake.get(f"/_fakemms/ui/messages/{message_id}/parts/0")
    assert first.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in first.headers["Content-Security-Policy"]
    assert "default-src 'none'" in first.headers["Content-Security-Policy"]
    assert first.content == b"<script>1</script>"
    download = fake.get(f"/_fakemms/ui/messages/{message_id}/parts/0?download=1")
    assert download.headers["Content-Disposition"] == 'attachment; filename="a.html"'
    page = fake.get(f"/_fakemms/ui/messages/{message_id}")
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert "<script>1</script>" not in page.text
    assert fake.get(f"/_fakemms/ui/messages/{message_id}/parts/9").status_code == 404


# --- the API page and the index ---------------------------------------------------------------
def test_the_api_page_renders_every_operation(fake: Fake) -> None:
    page = fake.get("/_fakemms/ui/api")
    assert page.status_code == 200
    doc = fake.get("/_fakemms/api/openapi.json").json()
    for path, methods in doc["paths"].items():
        for method in methods:
            assert f"{method.upper()}</span> <code>{path}</code>" in page.text


def test_the_fakemms_index_links_everything(fake: Fake, open_page: Callable) -> None:
    page = open_page()
    page.goto(fake.url + "/_fakemms")
    targets = {a.get_attribute("href") for a in page.locator("main a").all()}
    assert {"/", "/_fakemms/ui/api", "/_fakemms/health", "/_fakemms/api/openapi.json"} <= targets
    for target in targets:
        assert requests.get(fake.url + target, timeout=10).status_code == 200
    page.get_by_role("link", name="The control API").click()
    expect(page.get_by_role("heading", name="POST /_fakemms/api/mo")).to_be_visible()


def test_a_missing_message_is_a_page_not_a_crash(fake: Fake) -> None:
    answer = fake.get("/_fakemms/ui/messages/%3Cb%3Enope")
    assert answer.status_code == 404
    assert "No message &lt;b&gt;nope</h1>" in answer.text


def test_the_message_page_shows_the_request_as_received_without_credentials(
        fake: Fake) -> None:
    mt = send_mt(fake, subject="raw and redacted")
    page = fake.get(f"/_fakemms/ui/messages/{mt}").text
    assert "the request as received" in page
    assert "POST /mms/v2/send HTTP/1.1" in page and "Authorization: (redacted)" in page
    assert "&#34;subject&#34;: &#34;raw and redacted&#34;" in page or \
        "&quot;subject&quot;: &quot;raw and redacted&quot;" in page
    assert "s3cret" not in page and "YWNtZTpzM2NyZXQ" not in page  # nor its base64


# --- the admin token ---------------------------------------------------------------------------
def test_with_an_admin_token_the_ui_asks_for_it_once_and_actions_need_it(
        make_fake: Callable, open_page: Callable) -> None:
    fake = make_fake({"admin_token": "ui-token-5d21"})
    mt = send_mt(fake, subject="behind the token")
    page = open_page()
    page.goto(fake.url + f"/_fakemms/ui/messages/{mt}")
    expect(page.get_by_role("heading", name="Admin token")).to_be_visible()
    expect(page.get_by_text("behind the token")).to_have_count(0)
    page.get_by_label("Token").fill("not-the-token")
    page.get_by_role("button", name="Open the UI").click()
    expect(page.get_by_role("alert")).to_have_text("That token is wrong.")
    page.get_by_label("Token").fill("ui-token-5d21")
    page.get_by_role("button", name="Open the UI").click()
    expect(page.get_by_text("behind the token").first).to_be_visible()  # back on the page
    assert page.url.endswith(f"/_fakemms/ui/messages/{mt}")
    live(page)  # the event stream opens with the session cookie
    assert not page.evaluate("document.cookie")  # HttpOnly: no script reads it

    page.goto(fake.url + "/_fakemms/ui/controls")
    page.get_by_role("button", name="Pause").click()  # an action, with the cookie: done
    expect(page.locator("#clock-state")).to_contain_text("Clock paused at")
    assert fake.get("/_fakemms/api/clock", headers={
        "Authorization": "Bearer ui-token-5d21"}).json()["paused"] is True

    page.context.clear_cookies()  # the session gone: the same action is refused
    page.get_by_role("button", name="Resume").click()
    expect(page.locator("#result.bad")).to_contain_text("HTTP 401")
    assert fake.get("/_fakemms/api/clock", headers={
        "Authorization": "Bearer ui-token-5d21"}).json()["paused"] is True
    page.reload()
    expect(page.get_by_role("heading", name="Admin token")).to_be_visible()
    page.get_by_label("Token").fill("ui-token-5d21")
    page.get_by_role("button", name="Open the UI").click()
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Admin token")).to_be_visible()


# --- screenshots for the README ---------------------------------------------------------------
def test_screenshots_of_the_main_pages(make_fake: Callable, receiver: Any,
                                       open_page: Callable, tmp_path: Path) -> None:
    """Writes docs/screenshots/*.png when FAKEMMS_SCREENSHOTS names that directory."""
    fake = make_fake({**account(receiver), "clock": "virtual"})
    smil = (b'<smil><body><par dur="5000ms"><img src="cid:photo.png" region="Image"/>'
            b'<text src="cid:text.txt" region="Text"/></par></body></smil>')
    first = send_mt(fake, subject="Your order has shipped", parts=[
        ({"Content-Type": "application/smil", "Content-Id": "presentation"}, smil),
        ({"Content-Type": "image/png", "Content-Id": "photo.png"}, png(160, 100)),
        ({"Content-Type": "text/plain", "Content-Id": "text.txt"}, b"Track it at example.com")])
    fake.post("/_fakemms/api/mo", json={"account": "acme", "destination": "88600",
                                        "subject": "STOP"})
    send_mt(fake, subject="Weekly digest")
    fake.post("/_fakemms/api/clock/advance", json={"duration": "1m"})
    send_mt(fake, subject="Scheduled reminder")
    out = Path(SCREENSHOTS) if SCREENSHOTS else tmp_path
    out.mkdir(parents=True, exist_ok=True)
    page = open_page()
    shots = {"list": "/", "message": f"/_fakemms/ui/messages/{first}", "mo": "/_fakemms/ui/mo",
             "controls": "/_fakemms/ui/controls", "api": "/_fakemms/ui/api"}
    for name, path in shots.items():
        page.goto(fake.url + path)
        live(page)
        page.screenshot(path=str(out / f"{name}.png"), full_page=name == "message")
        assert (out / f"{name}.png").stat().st_size > 10_000


# --- how parts are presented (no browser) -----------------------------------------------------
def test_a_smil_that_does_not_parse_or_declares_entities_is_reported_not_expanded() -> None:
    bomb = (b'<?xml version="1.0"?><!DOCTYPE smil [<!ENTITY a "aaaaaaaaaa">]>'
            b"<smil><body><par><text src='&a;'/></par></body></smil>")
    shown = presentation([Part("application/smil", bomb, "presentation")])
    assert shown is not None and shown.slides == []
    assert shown.error.startswith("the SMIL does not parse")
    assert presentation([Part("text/plain", b"no smil here", "t.txt")]) is None


def test_slides_find_parts_by_content_id_or_filename_and_text_by_its_charset() -> None:
    smil = (b'<smil><body><par dur="2s"><img src="pic.gif"/><text src="cid:&lt;t&gt;"/></par>'
            b"</body></smil>")
    parts = [Part("application/smil", smil, "s"), Part("image/gif", b"GIF89a", None,
                                                       filename="pic.gif"),
             Part('text/plain; charset="windows-1252"', "caf\u00e9".encode("cp1252"), "<t>")]
    slide = presentation(parts).slides[0]
    assert [(i.element, i.part.index, i.part.kind) for i in slide.items] == [
        ("img", 1, "image"), ("text", 2, "text")]
    assert slide.items[1].part.text == "caf\u00e9"
    assert charset_of("text/plain; charset=no-such-charset") == "utf-8"
