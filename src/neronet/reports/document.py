"""A tiny document model rendered both as Markdown and as self-contained HTML.

The summary is built once as sections of paragraphs, tables and images, so the
two output formats can never disagree about what the report says.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Table:
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Image:
    """A PNG next to the summary file, referred to by its file name."""

    file: str
    caption: str


Block = str | Table | Image


@dataclass(frozen=True)
class Section:
    title: str
    blocks: tuple[Block, ...]


@dataclass(frozen=True)
class Document:
    title: str
    sections: tuple[Section, ...]


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def md_block(block: Block) -> str:
    if isinstance(block, Table):
        lines = [
            "| " + " | ".join(map(_md_cell, block.headers)) + " |",
            "|" + "---|" * len(block.headers),
        ]
        lines += ["| " + " | ".join(map(_md_cell, row)) + " |" for row in block.rows]
        return "\n".join(lines)
    if isinstance(block, Image):
        return f"![{block.caption}]({block.file})\n\n[{block.file}]({block.file}): {block.caption}"
    return block


def to_markdown(doc: Document) -> str:
    parts = [f"# {doc.title}"]
    for section in doc.sections:
        parts.append(f"## {section.title}")
        parts += [md_block(block) for block in section.blocks]
    return "\n\n".join(parts) + "\n"


_CSS = (
    "body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
    "table{border-collapse:collapse;margin:1em 0}"
    "th,td{border:1px solid #bbb;padding:3px 8px;text-align:left}"
    "th{background:#eee}img{max-width:100%;border:1px solid #ddd}"
)


def _html_block(block: Block, directory: Path) -> str:
    if isinstance(block, Table):
        head = "".join(f"<th>{html.escape(h)}</th>" for h in block.headers)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
            for row in block.rows
        )
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    if isinstance(block, Image):
        # Embedded, so the HTML file alone is the whole report; the link is the PNG itself.
        data = base64.b64encode((directory / block.file).read_bytes()).decode("ascii")
        name = html.escape(block.file)
        return (
            f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(block.caption)}">'
            f'<figcaption><a href="{name}">{name}</a>: {html.escape(block.caption)}'
            "</figcaption></figure>"
        )
    return f"<p>{html.escape(block)}</p>"


def to_html(doc: Document, directory: Path) -> str:
    """HTML with inline CSS and PNGs (read from ``directory``) embedded as data URIs."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(doc.title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(doc.title)}</h1>",
    ]
    for section in doc.sections:
        parts.append(f"<h2>{html.escape(section.title)}</h2>")
        parts += [_html_block(block, directory) for block in section.blocks]
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
