"""A report as a list of blocks (headings, text, tables, figures, links), rendered to one HTML page or to markdown.

The HTML page is self-contained: inline CSS, figures as data: PNGs, no script at all, and
a Content-Security-Policy that forbids every fetch but inline images and styles, so it
reads offline, mailed, or opened from an archive. The markdown is for GitHub: the same
blocks, with each figure as a PNG file beside it (returned, not written, like the page).
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from dataclasses import dataclass, field

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
"""Nothing is fetched: no script, font, frame or remote image; only the page's own CSS and data: images."""

Tone = str
"""'good', 'bad', 'warn' or '' (a cell's or a line's colour)."""


@dataclass(frozen=True)
class Heading:
    level: int
    text: str


@dataclass(frozen=True)
class Text:
    text: str
    tone: Tone = ""


@dataclass(frozen=True)
class Cell:
    text: str
    tone: Tone = ""


@dataclass(frozen=True)
class Table:
    header: list[str]
    rows: list[list[Cell | str]]


@dataclass(frozen=True)
class Plot:
    """A figure: PNG bytes, a file name for markdown, and a caption that says what it shows."""

    name: str
    png: bytes
    caption: str


@dataclass(frozen=True)
class Items:
    items: list[Text]


@dataclass(frozen=True)
class Links:
    """Links to files beside the page (relative), with a note each."""

    links: list[tuple[str, str, str]] = field(default_factory=list)
    """(label, relative href, note)."""


Block = Heading | Text | Table | Plot | Items | Links

STYLE = """
:root { --bg: #ffffff; --fg: #1f2933; --muted: #5b6770; --line: #d9dee3; --card: #f5f7f9;
  --good: #1e7d45; --bad: #b3261e; --warn: #8a5a00; --link: #1f5fa8; }
@media (prefers-color-scheme: dark) {
  :root { --bg: #15191d; --fg: #e6e9ec; --muted: #a3adb6; --line: #3a434b; --card: #1e2429;
    --good: #5fd38d; --bad: #ff8a80; --warn: #f0c060; --link: #8ab8ff; } }
@media print { :root { --bg: #ffffff; --fg: #000000; --muted: #333333; --line: #999999; --card: #ffffff;
    --good: #1e7d45; --bad: #b3261e; --warn: #8a5a00; --link: #000000; }
  figure, table { break-inside: avoid; } }
html { background: var(--bg); color: var(--fg); }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
  max-width: 60rem; margin: 1.5rem auto; padding: 0 1rem; }
h1 { font-size: 1.6rem; margin: 0.2rem 0 0.8rem; } h2 { font-size: 1.25rem; margin-top: 2rem;
  border-bottom: 1px solid var(--line); padding-bottom: 0.2rem; } h3 { font-size: 1.05rem; margin-top: 1.4rem; }
p { margin: 0.4rem 0; } ul { margin: 0.3rem 0 0.6rem; padding-left: 1.3rem; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; font-size: 0.9rem; }
th, td { border: 1px solid var(--line); padding: 0.25rem 0.55rem; text-align: left; vertical-align: top; }
th { background: var(--card); } td { font-variant-numeric: tabular-nums; }
figure { margin: 0.8rem 0 1.2rem; } figure img { max-width: 100%; height: auto; background: #ffffff;
  border: 1px solid var(--line); border-radius: 4px; }
figcaption { color: var(--muted); font-size: 0.85rem; margin-top: 0.25rem; }
a { color: var(--link); } code { font-size: 0.9em; }
.good { color: var(--good); font-weight: 600; } .bad { color: var(--bad); font-weight: 600; }
.warn { color: var(--warn); } .muted { color: var(--muted); }
"""


def _text(value: str) -> str:
    return html.escape(value, quote=True)


def _cell(cell: Cell | str, tag: str) -> str:
    item = cell if isinstance(cell, Cell) else Cell(cell)
    tone = f' class="{item.tone}"' if item.tone else ""
    return f"<{tag}{tone}>{_text(item.text)}</{tag}>"


def _image_size(png: bytes) -> tuple[int, int]:
    """Width and height from the PNG header, so the page lays out before the image decodes."""
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")


def _html_block(block: Block) -> str:
    if isinstance(block, Heading):
        return f"<h{block.level}>{_text(block.text)}</h{block.level}>"
    if isinstance(block, Text):
        tone = f' class="{block.tone}"' if block.tone else ""
        return f"<p{tone}>{_text(block.text)}</p>"
    if isinstance(block, Table):
        head = "".join(_cell(name, "th") for name in block.header)
        body = "".join("<tr>" + "".join(_cell(cell, "td") for cell in row) + "</tr>" for row in block.rows)
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    if isinstance(block, Plot):
        width, height = _image_size(block.png)
        data = base64.b64encode(block.png).decode("ascii")
        return (f'<figure class="plot" id="{_text(block.name)}"><img src="data:image/png;base64,{data}" '
                f'width="{width}" height="{height}" alt="{_text(block.caption)}">'
                f"<figcaption>{_text(block.caption)}</figcaption></figure>")
    if isinstance(block, Items):
        return "<ul>" + "".join(
            f'<li{f" class={chr(34)}{item.tone}{chr(34)}" if item.tone else ""}>{_text(item.text)}</li>'
            for item in block.items) + "</ul>"
    return "<ul>" + "".join(
        f'<li><a href="{_text(href)}">{_text(label)}</a>{" " + _text(note) if note else ""}</li>'
        for label, href, note in block.links) + "</ul>"


def render_html(title: str, blocks: Sequence[Block]) -> bytes:
    """One self-contained HTML page (UTF-8 bytes)."""
    body = "\n".join(_html_block(block) for block in blocks)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="color-scheme" content="light dark">\n'
        f"<title>{_text(title)}</title>\n<style>{STYLE}</style></head>\n<body>\n{body}\n</body></html>\n"
    ).encode()


def _md_escape(value: str) -> str:
    return value.replace("|", "\\|").replace("\n", " ")


def _md_cell(cell: Cell | str) -> str:
    item = cell if isinstance(cell, Cell) else Cell(cell)
    text = _md_escape(item.text)
    return f"**{text}**" if item.tone in ("good", "bad") else text


def _md_block(block: Block, image_dir: str, images: dict[str, bytes]) -> str:
    if isinstance(block, Heading):
        return f"{'#' * block.level} {block.text}"
    if isinstance(block, Text):
        return f"**{block.text}**" if block.tone in ("good", "bad") else block.text
    if isinstance(block, Table):
        lines = ["| " + " | ".join(_md_escape(h) for h in block.header) + " |",
                 "|" + "---|" * len(block.header)]
        lines += ["| " + " | ".join(_md_cell(cell) for cell in row) + " |" for row in block.rows]
        return "\n".join(lines)
    if isinstance(block, Plot):
        path = f"{image_dir}/{block.name}.png"
        images[path] = block.png
        return f"![{_md_escape(block.caption)}]({path})\n\n*{block.caption}*"
    if isinstance(block, Items):
        return "\n".join(f"- {item.text}" for item in block.items)
    return "\n".join(f"- [{label}]({href}){' ' + note if note else ''}" for label, href, note in block.links)


def render_markdown(blocks: Sequence[Block], image_dir: str) -> tuple[str, dict[str, bytes]]:
    """Markdown text and its figures as {relative path: PNG bytes} (paths under image_dir)."""
    images: dict[str, bytes] = {}
    text = "\n\n".join(_md_block(block, image_dir, images) for block in blocks) + "\n"
    return text, images


@dataclass(frozen=True)
class Report:
    """A finished report: the HTML page, the markdown, and the markdown's PNG files by relative path."""

    html: bytes
    markdown: str
    images: dict[str, bytes]


def build_report(title: str, page: Sequence[Block], markdown: Sequence[Block], image_dir: str) -> Report:
    """Both renderings at once (the figures are drawn once and shared)."""
    text, images = render_markdown(markdown, image_dir)
    return Report(render_html(title, page), text, images)
