"""The report in Debian's headless Chromium: offline, whole, accessible and printable."""

from __future__ import annotations

from pathlib import Path

SECTIONS = ["Summary of findings", "Agreement",
            "Explanations: do checklist and panel decide for the same reasons?",
            "What drives practitioners' levels",
            "Failure points: where and why the checklist parts from the panel", "Teaching cases",
            "Learned checklists", "Methods appendix"]



def test_report_in_chromium(browser, quick_run: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    report = (quick_run / "report.html").resolve()
    url = report.as_uri()
    context = browser.new_context(viewport={"width": 1200, "height": 900}, offline=True)
    requests: list[str] = []
    blocked: list[str] = []

    def route(r) -> None:  # type: ignore[no-untyped-def]
        if r.request.url == url:
            r.continue_()
        else:
            blocked.append(r.request.url)
            r.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.on("request", lambda request: requests.append(request.url))
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(url, wait_until="load")

    assert page.title().startswith("Quickstart - two checklists against a mixed panel on core-60")
    assert page.locator("h1").count() == 1
    headings = page.locator("h2").all_inner_texts()
    for name in SECTIONS:
        assert name in headings, headings

    plots = page.locator("svg.plot")
    # bands, rules as rater, SHAP per ruleset, drivers, dependability, forest, quadrants, fidelity,
    # one per teaching case
    cases = page.locator("article.case").count()
    assert cases >= 3
    assert plots.count() == 9 + cases
    for i in range(plots.count()):
        svg = plots.nth(i)
        box = svg.bounding_box()
        assert box is not None and box["width"] > 100 and box["height"] > 50, (i, box)
        label = svg.get_attribute("aria-labelledby")
        assert label and page.locator(f"#{label}").count() == 1
        assert svg.locator("title").count() == 1
        # something was drawn: paths or text inside the plot
        assert svg.locator("path").count() > 5
    assert page.locator("figure:not(:has(figcaption))").count() == 0
    assert page.locator("table:not(:has(caption))").count() == 0
    ids = page.eval_on_selector_all("[id]", "els => els.map(e => e.id)")
    assert len(ids) == len(set(ids)), "element ids must be unique across the inline SVGs"

    # every heading level follows its parent (no jump from h2 to h4)
    levels = page.eval_on_selector_all("h1, h2, h3, h4, h5, h6", "els => els.map(e => +e.tagName[1])")
    assert levels[0] == 1 and all(b - a <= 1 for a, b in zip(levels, levels[1:], strict=False))

    page.screenshot(path=str(tmp_path / "report-top.png"))
    page.screenshot(path=str(tmp_path / "report-full.png"), full_page=True)

    # printing: the contents box is hidden and a PDF comes out
    page.emulate_media(media="print")
    assert page.locator("nav.toc").is_hidden()
    pdf = page.pdf(format="A4", print_background=False)
    assert pdf.startswith(b"%PDF") and pdf.count(b"/Type /Page") > 5

    assert requests == [url], requests
    assert blocked == []
    assert errors == []
    context.close()
