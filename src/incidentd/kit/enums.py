"""DevRev's integer enums (severity, reported_by, source, impact count) and their enum-value objects."""

from __future__ import annotations

import re
from dataclasses import dataclass

from incidentd.errors import InvalidEnumValue
from incidentd.kit.numbers import integer_from_text, quoted
from incidentd.kit.wire import Response


class EnumValue(Response):
    id: int
    label: str
    ordinal: int


@dataclass(frozen=True)
class IntEnum:
    """An enum whose ids are small integers; the ordinal is the id (contract notes)."""

    name: str
    labels: dict[int, str]

    def value(self, enum_id: int | None) -> EnumValue | None:
        if enum_id is None:
            return None
        return EnumValue(id=enum_id, label=self.labels.get(enum_id, str(enum_id)), ordinal=enum_id)

    @property
    def allowed(self) -> list[str]:
        return [str(enum_id) for enum_id in self.labels]

    def parse(self, raw: int | str, *, field_name: str) -> int:
        """An id of this enum from an int, a string of ASCII digits, or a label (case-insensitive); else 400
        invalid_enum_value naming `field_name`."""
        if isinstance(raw, bool):
            raw = str(raw)
        if isinstance(raw, int) and raw in self.labels:
            return raw
        if isinstance(raw, str):
            text = raw.strip()
            number = integer_from_text(text)
            if number is not None and number in self.labels:
                return number
            found = self._by_label(text)
            if found is not None:
                return found
        raise InvalidEnumValue(
            f"{quoted(repr(raw))} is not a valid {self.name}",
            field_name=field_name,
            value=quoted(raw),
            allowed_values=self.allowed,
        )

    def _by_label(self, text: str) -> int | None:
        wanted = _label_key(text)
        return next((enum_id for enum_id, label in self.labels.items() if _label_key(label) == wanted), None)


def _label_key(text: str) -> str:
    return re.sub(r"[\s_-]+", "", text.lower())


SEVERITY = IntEnum("severity", {1: "sev-0", 2: "sev-1", 3: "sev-2", 4: "sev-3"})
REPORTED_BY = IntEnum("reported_by", {1: "Customer", 2: "Internal Users", 3: "System"})
SOURCE = IntEnum("source", {1: "manual", 2: "alert", 3: "integration"})
IMPACT_COUNT = IntEnum("impact.count", {1: "1-10", 2: "11-100", 3: "101-1000", 4: "1000+"})
