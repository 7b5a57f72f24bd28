"""The search query language, parsed into clauses and rendered as an FTS5 MATCH expression or a tsquery.

A query is whitespace-separated parts, all of which must match (AND):
- `word`: incidents with a word that starts with it (`paym` finds payment; `paym*` says the same); a one-letter
  word matches only itself;
- `"quoted phrase"`: those words, exactly, one after another (a quote left open runs to the end);
- a part that holds punctuation between words (`us-east-1`, `api_gateway`) is the phrase of its words;
- `-part`: incidents that do not match the part.
Words are runs of letters and digits; every other character only separates them, so no input is a syntax error
of the database: the rendered expressions quote every word. A query needs one part that is not excluded."""

from __future__ import annotations

import re
from dataclasses import dataclass

from incidentd.errors import InvalidField

MAX_QUERY = 512  # characters (the request Struct's bound)
MAX_PARTS = 16
MAX_WORDS = 32  # over every part and phrase
MAX_WORD = 64  # characters
MIN_PREFIX = 2  # shorter words match whole words only: a one-letter prefix is most of the vocabulary
FIELD = "query"
# The relevance tiers of a query's matches, best first: every wanted part in the title; some in the title or the
# tag names; the rest (only in the body or comments).
ALL_IN_TITLE, SOME_IN_TITLE_OR_TAGS, ELSEWHERE = 0, 1, 2
TIERS = (ALL_IN_TITLE, SOME_IN_TITLE_OR_TAGS, ELSEWHERE)

_PART = re.compile(r'(-?)"([^"]*)"?|(-?)([^\s"]+)')
_WORD = re.compile(r"[^\W_]+")


@dataclass(frozen=True)
class Clause:
    words: tuple[str, ...]  # one word, or a phrase's words in order
    prefix: bool  # one word that matches words starting with it
    excluded: bool


@dataclass(frozen=True)
class SearchQuery:
    clauses: tuple[Clause, ...]
    # SQLite: the index's words that prefix words of the query start with, when they are few ({prefix: words}):
    # FTS5 reads a prefix longer than its prefix indexes (3) by gathering every match of the org first, and
    # reads an OR of whole words lazily, newest first, only as far as a page needs.
    expansions: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @property
    def wanted(self) -> list[Clause]:
        return [clause for clause in self.clauses if not clause.excluded]

    @property
    def unwanted(self) -> list[Clause]:
        return [clause for clause in self.clauses if clause.excluded]

    def fts5(self, tier: int | None = None) -> str:
        """The FTS5 MATCH expression of the query, `("a"* AND "b c") NOT ("d"* OR "e")`, or of its matches in one
        tier (`tier`: ALL_IN_TITLE, SOME_IN_TITLE_OR_TAGS or ELSEWHERE; the tiers part the matches)."""
        expansions = dict(self.expansions)
        wanted = "(" + " AND ".join(_fts5_clause(clause, expansions) for clause in self.wanted) + ")"
        all_in_title = "({title} : " + wanted + ")"
        some_in_title_or_tags = (
            "({title tags} : (" + " OR ".join(_fts5_clause(c, expansions) for c in self.wanted) + "))"
        )
        found, left_out = {
            None: (wanted, []),
            ALL_IN_TITLE: (all_in_title, []),
            SOME_IN_TITLE_OR_TAGS: (f"({wanted} AND {some_in_title_or_tags})", [all_in_title]),
            ELSEWHERE: (wanted, [some_in_title_or_tags]),
        }[tier]
        left_out += [_fts5_clause(clause, expansions) for clause in self.unwanted]
        return found + (" NOT (" + " OR ".join(left_out) + ")" if left_out else "")

    @property
    def long_prefixes(self) -> list[str]:
        """The prefix words FTS5 has no prefix index for (longer than 3 characters), ASCII (as the index holds
        them: the tokenizer leaves them as they are)."""
        words = {c.words[0] for c in self.clauses if c.prefix and len(c.words[0]) > 3 and c.words[0].isascii()}
        return sorted(words)

    def tsquery(self, tier: int | None = None) -> str:
        """The text of a PostgreSQL tsquery (for to_tsquery, which normalizes each quoted word by the language):
        `'a':* & ('b' <-> 'c') & !'d':*`, or of the query's matches in one tier (the title is weight A, tag names
        B: `'a':*A` is `a` in the title)."""
        wanted = " & ".join(_ts_clause(clause) for clause in self.wanted)
        all_in_title = "(" + " & ".join(_ts_clause(clause, "A") for clause in self.wanted) + ")"
        some_in_title_or_tags = "(" + " | ".join(_ts_clause(clause, "AB") for clause in self.wanted) + ")"
        found, left_out = {
            None: (wanted, []),
            ALL_IN_TITLE: (all_in_title, []),
            SOME_IN_TITLE_OR_TAGS: (f"{wanted} & {some_in_title_or_tags}", [all_in_title]),
            ELSEWHERE: (wanted, [some_in_title_or_tags]),
        }[tier]
        left_out += [_ts_clause(clause) for clause in self.unwanted]
        return " & ".join([found, *(f"!{part}" for part in left_out)])


def _fts5_clause(clause: Clause, expansions: dict[str, tuple[str, ...]]) -> str:
    # Words are letters and digits only, so a double quote never needs escaping inside the string.
    if clause.prefix and clause.words[0] in expansions:
        words = expansions[clause.words[0]] or clause.words  # none: the word itself, which then matches nothing
        return "(" + " OR ".join(f'"{word}"' for word in words) + ")"
    return '"' + " ".join(clause.words) + '"' + ("*" if clause.prefix else "")


def _ts_clause(clause: Clause, weights: str = "") -> str:
    """A clause as tsquery text; `weights` (`A`, `AB`) restricts it to words of those fields."""
    label = ":" + weights if weights else ""
    if len(clause.words) == 1:
        return f"'{clause.words[0]}'" + (":*" + weights if clause.prefix else label)
    return "(" + " <-> ".join(f"'{word}'{label}" for word in clause.words) + ")"


def parse(text: str) -> SearchQuery:
    """Parse a user's query; a query that is empty, too big, or only excludes is 400 invalid_field `query`."""
    if len(text) > MAX_QUERY:
        raise InvalidField(f"query is longer than {MAX_QUERY} characters", field_name=FIELD)
    clauses: list[Clause] = []
    total = 0
    for match in _PART.finditer(text):
        quoted = match.group(2) is not None
        excluded = bool(match.group(1) if quoted else match.group(3))
        words = tuple(word.lower() for word in _WORD.findall(match.group(2) if quoted else match.group(4)))
        if not words:
            continue  # punctuation alone: nothing to match
        if any(len(word) > MAX_WORD for word in words):
            raise InvalidField(f"a word of the query is longer than {MAX_WORD} characters", field_name=FIELD)
        total += len(words)
        prefix = not quoted and len(words) == 1 and len(words[0]) >= MIN_PREFIX
        clause = Clause(words, prefix, excluded)
        if clause not in clauses:
            clauses.append(clause)
    if len(clauses) > MAX_PARTS or total > MAX_WORDS:
        raise InvalidField(f"query has more than {MAX_PARTS} parts or {MAX_WORDS} words", field_name=FIELD)
    if not any(not clause.excluded for clause in clauses):
        raise InvalidField("query needs a word or phrase to find (not only -exclusions)", field_name=FIELD)
    return SearchQuery(tuple(clauses))
