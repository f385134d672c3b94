"""The quality report as one self-contained HTML page: the Markdown rendered by markdown-it-py
(CommonMark with tables; raw HTML in the text stays text) and every figure it shows embedded as a
PNG data URI, so the page reads the same from the MLflow UI, a mail attachment or a file share."""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping
from pathlib import Path

from markdown_it import MarkdownIt

QUALITY_REPORT_HTML = "quality_report.html"

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 1040px;
       margin: 2em auto; padding: 0 1em; color: #222; line-height: 1.45; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.92em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
thead { background: #f2f2f2; }
img { max-width: 100%; height: auto; display: block; margin: 1em 0; }
code { background: #f4f4f4; padding: 0 0.2em; }
"""


def html_page(markdown_text: str, images: Mapping[str, bytes], title: str) -> str:
    """The page: `images` maps the paths the Markdown links (`plots/x.png`) to PNG bytes; an
    image without bytes is replaced by a line saying it was not logged."""
    md = MarkdownIt("commonmark", {"html": False}).enable("table")
    tokens = md.parse(markdown_text)
    for token in tokens:
        for child in token.children or []:
            if child.type != "image":
                continue
            src = str(child.attrGet("src"))
            if src in images:
                encoded = base64.b64encode(images[src]).decode("ascii")
                child.attrSet("src", f"data:image/png;base64,{encoded}")
            else:
                child.type, child.tag, child.children = "text", "", None
                child.content = f"[figure {src} was not logged]"
    body = md.renderer.render(tokens, md.options, {})
    return (
        "<!doctype html>\n<html lang='en'>\n<head>\n<meta charset='utf-8'>\n"
        f"<title>{html.escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n"
        f"<body>\n{body}</body>\n</html>\n"
    )


def images_under(folder: Path) -> dict[str, bytes]:
    """Every PNG under `folder`, keyed by its path relative to it (as the report links them)."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*.png")}
