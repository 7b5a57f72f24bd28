"""The snippet of a search hit: a few words of the field that matches the query best, HTML-escaped, the words
that match wrapped in `<mark>` and `</mark>` (the only markup a snippet holds), `…` where it was cut.

Matching here is the query language's, on case- and accent-folded words: a word is marked when it starts with a
prefix word, equals an exact word, or is one of a run of words that spells a phrase. (PostgreSQL with a
stemming language may find an incident by a stem no word of it starts with; its snippet is then unmarked.)"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Sequence

from incidentd.search.query import Clause, SearchQuery

WINDOW = 20  # words in a snippet
LEAD = 5  # words before the first marked one
MAX_CHARS = 240  # characters of the field a snippet shows at most
MARK, UNMARK = "<mark>", "</mark>"

_WORD = re.compile(r"[^\W_]+")


def fold(word: str) -> str:
    """A word as the index compares it: case-folded, without diacritics."""
    if word.isascii():
        return word.lower()  # what the rest does to ASCII, at a tenth of the cost (snippets fold every word)
    decomposed = unicodedata.normalize("NFKD", word.casefold())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def _marked(words: Sequence[str], clauses: Sequence[Clause]) -> tuple[set[int], int]:
    """(indexes of the words the clauses match, how many distinct clauses match at all)."""
    marked: set[int] = set()
    found = 0
    for clause in clauses:
        before = len(marked)
        wanted = [fold(word) for word in clause.words]
        if len(wanted) == 1:
            for index, word in enumerate(words):
                if word == wanted[0] or (clause.prefix and word.startswith(wanted[0])):
                    marked.add(index)
        else:
            for start in range(len(words) - len(wanted) + 1):
                if list(words[start : start + len(wanted)]) == wanted:
                    marked.update(range(start, start + len(wanted)))
        found += len(marked) > before
    return marked, found


def snippet(query: SearchQuery, fields: Sequence[str | None]) -> str:
    """The snippet of one incident from its indexed fields (in order of preference when they match equally)."""
    best: tuple[int, str, list[re.Match[str]], set[int]] | None = None
    for text in fields:
        if not text:
            continue
        spans = list(_WORD.finditer(text))
        marked, found = _marked([fold(span.group()) for span in spans], query.wanted)
        if best is None or found > best[0]:
            best = (found, text, spans, marked)
    if best is None:
        return ""
    _, text, spans, marked = best
    if not spans:
        return html.escape(text[:MAX_CHARS])
    first = min(marked) if marked else 0
    start = max(0, first - LEAD)
    chosen = spans[start : start + WINDOW]
    begin = chosen[0].start()
    limit = begin + MAX_CHARS
    pieces = ["…"] if start > 0 else []
    position = begin
    for offset, span in enumerate(chosen):
        if span.start() >= limit:
            break
        end = min(span.end(), limit)
        pieces.append(html.escape(text[position : span.start()]))
        word = html.escape(text[span.start() : end])
        pieces.append(MARK + word + UNMARK if start + offset in marked else word)
        position = end
    cut = position < len(text.rstrip())
    return "".join(pieces).strip() + ("…" if cut else "")
