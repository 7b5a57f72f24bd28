"""Templates and what they show: Jinja2 with autoescaping (a title `<script>` is text), markdown without raw
HTML, times as ages, severity with its name (never colour alone)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markdown_it import MarkdownIt
from markupsafe import Markup

from incidentd.webapp import assets

TEMPLATES = Path(__file__).parent / "templates"

# "js-default" with html off: raw HTML in a body is shown as text; links with javascript: are refused by the
# library's link validator.
_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable("table")


def markdown(text: str | None) -> Markup:
    """A body rendered from markdown; raw HTML in it stays text (markdown-it escapes it)."""
    return Markup(_markdown.render(text or ""))


def parse_time(value: str | None) -> float | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def duration(seconds: float | None) -> str:
    """A short human duration: 45s, 12m, 3h 05m, 2d 4h."""
    if seconds is None:
        return "—"
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86_400
    if minutes < 60:
        return f"{minutes}m"
    if hours < 24:
        return f"{hours}h {minutes % 60:02d}m"
    return f"{days}d {hours % 24}h"


def age(value: str | None) -> str:
    """How long ago an RFC 3339 time was."""
    moment = parse_time(value)
    return "—" if moment is None else duration(time.time() - moment)


def local_input(value: str | None) -> str:
    """An RFC 3339 time as a datetime-local input's value (UTC)."""
    moment = parse_time(value)
    if moment is None:
        return ""
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M")


def severity_class(severity: Any) -> str:
    label = getattr(severity, "label", None)
    return label if label in ("sev-0", "sev-1", "sev-2", "sev-3") else "sev-none"


def person(user: Any) -> str:
    if user is None:
        return "—"
    return str(user.display_name or user.full_name or user.email or user.display_id or user.id)


def file_size(size: int | None) -> str:
    """A byte count as people read it: 512 B, 12.5 KB, 3.1 MB."""
    if size is None:
        return "—"
    for unit in ("B", "KB", "MB"):
        if size < 1024 or unit == "MB":
            return f"{size} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size = size / 1024  # type: ignore[assignment]
    return f"{size:.1f} GB"


def article_href(article: Any) -> str | None:
    """Where an article's title links: its resource URL when it is a web address (never javascript: or data:)."""
    url = article.resource.url if getattr(article, "resource", None) is not None else None
    return url if isinstance(url, str) and url.lower().startswith(("https://", "http://")) else None


@cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["static"] = assets.url_of
    env.filters.update(
        markdown=markdown, age=age, local_input=local_input, severity_class=severity_class, person=person
    )
    env.filters.update(file_size=file_size, article_href=article_href)
    return env


def render(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)
