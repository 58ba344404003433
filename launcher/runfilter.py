"""The run filter language: `loss<0.1 lr=0.1 state:failed job:hello tag:best free text`.

Terms are separated by spaces and all must hold:

- `NAME<NUMBER` (also `<=`, `>`, `>=`): the run's metric NAME (its latest value), or else its config key
  NAME (nested keys joined with "."), compared as numbers; `config.NAME` / `metric.NAME` choose the side;
- `NAME=VALUE` and `NAME!=VALUE`: equal as numbers when VALUE is one, else as text (`optimizer=adam`,
  `flag=true`); a run without NAME never equals, and so always differs;
- `FIELD:VALUE` for a field of the run: `state:failed` (a state), `job:hello` (part of the job),
  `tag:best` (one of its tags), `resource:local-process`, `project:vision`, `name:...`, `id:...`,
  `sweep:...` (part of the value);
- anything else is free text, found in the run's id, name, job, resource, state, project, sweep or tags
  (case does not matter). Quote a term to make it free text as it is: `"a:b"`, `'x<y'`.

Spaces around an operator are allowed (`loss < 0.1`). A term that looks like a comparison or a field but
is not one (`loss<<1`, `loss<abc`, `stat:failed`) is refused with one line naming it (FilterError)."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from launcher.errors import FilterError
from launcher.runtable import CONFIG_PREFIX, METRIC_PREFIXES, RunRow, cell_text
from launcher.states import RunState

OPERATOR_CHARACTERS = "<>=!"
_COMPARISON = re.compile(r"^(?P<key>[^<>=!]+?)(?P<op><=|>=|!=|==|=|<|>)(?P<value>.*)$", re.S)
_FIELD = re.compile(r"^(?P<field>[A-Za-z]+):(?P<value>.*)$", re.S)
FORMS = "NAME<NUMBER, NAME=VALUE, state:STATE, job:NAME, tag:TAG or free text"


class Operator(StrEnum):
    LT = "<"
    LE = "<="
    GT = ">"
    GE = ">="
    EQ = "="
    NE = "!="

    @property
    def ordering(self) -> bool:
        return self in (Operator.LT, Operator.LE, Operator.GT, Operator.GE)


class FilterField(StrEnum):
    STATE = "state"
    JOB = "job"
    TAG = "tag"
    RESOURCE = "resource"
    PROJECT = "project"
    NAME = "name"
    ID = "id"
    SWEEP = "sweep"


@dataclass(frozen=True, slots=True)
class ValueTerm:
    """A metric or config value compared with a number or text."""

    key: str
    operator: Operator
    number: float | None
    text: str

    def matches(self, row: RunRow) -> bool:
        value = _lookup(row, self.key)
        if value is None:
            return self.operator is Operator.NE
        if self.operator.ordering:
            if isinstance(value, bool) or not isinstance(value, int | float):
                return False
            number = self.number
            assert number is not None
            return {Operator.LT: value < number, Operator.LE: value <= number, Operator.GT: value > number,
                    Operator.GE: value >= number}[self.operator]
        equal = self._equal(value)
        return equal if self.operator is Operator.EQ else not equal

    def _equal(self, value: Any) -> bool:
        if self.number is not None and isinstance(value, int | float) and not isinstance(value, bool):
            return value == self.number
        return cell_text(value).lower() == self.text.lower()


@dataclass(frozen=True, slots=True)
class FieldTerm:
    field: FilterField
    value: str

    def matches(self, row: RunRow) -> bool:
        record = row.record
        wanted = self.value.lower()
        if self.field is FilterField.STATE:
            return record.state == self.value
        if self.field is FilterField.TAG:
            return any(tag.lower() == wanted for tag in record.tags)
        if self.field is FilterField.RESOURCE:
            return record.resource.lower() == wanted
        if self.field is FilterField.PROJECT:
            return (record.project or "").lower() == wanted
        text = {FilterField.JOB: record.job, FilterField.NAME: record.name, FilterField.ID: record.id,
                FilterField.SWEEP: record.sweep_id}[self.field]
        return wanted in (text or "").lower()


@dataclass(frozen=True, slots=True)
class TextTerm:
    text: str

    def matches(self, row: RunRow) -> bool:
        return self.text.lower() in _haystack(row)


Term = ValueTerm | FieldTerm | TextTerm


@dataclass(frozen=True, slots=True)
class RunFilter:
    """A parsed filter: every term must hold. An empty filter keeps every run."""

    terms: tuple[Term, ...] = ()

    def matches(self, row: RunRow) -> bool:
        return all(term.matches(row) for term in self.terms)

    def apply(self, rows: Iterable[RunRow]) -> list[RunRow]:
        if not self.terms:
            return list(rows)
        return [row for row in rows if self.matches(row)]


def _lookup(row: RunRow, key: str) -> Any:
    if key.startswith(CONFIG_PREFIX):
        return row.config.get(key[len(CONFIG_PREFIX):])
    for prefix in METRIC_PREFIXES:
        if key.startswith(prefix) and key[len(prefix):] in row.metrics:
            return row.metrics[key[len(prefix):]]
    value = row.metrics.get(key)
    return row.config.get(key) if value is None else value


def _haystack(row: RunRow) -> str:
    record = row.record
    return " ".join(str(part) for part in (record.id, record.name, record.job, record.resource, record.state,
                                           record.project, record.sweep_id or "", *record.tags)).lower()


def parse_filter(text: str) -> RunFilter:
    """The filter for a line of text; FilterError naming the first term that is not understood."""
    return RunFilter(tuple(_term(token, quoted) for token, quoted in _tokens(text)))


def _tokens(text: str) -> list[tuple[str, bool]]:
    """Terms as (text, quoted whole). Quotes group; spaces next to an operator do not separate."""
    tokens: list[tuple[str, bool]] = []
    pieces: list[str] = []
    whole_quote = False
    index, length = 0, len(text)
    while index < length:
        char = text[index]
        if char in "\"'":
            end = text.find(char, index + 1)
            if end < 0:
                raise FilterError(f"filter {text!r} has an unclosed {char}; expected a closing {char}")
            whole_quote = not pieces
            pieces.append(text[index + 1:end])
            index = end + 1
            if index < length and not text[index].isspace():
                whole_quote = False
            continue
        if char.isspace():
            after = index
            while after < length and text[after].isspace():
                after += 1
            previous = pieces[-1][-1:] if pieces else ""
            following = text[after] if after < length else ""
            if pieces and following and (previous in OPERATOR_CHARACTERS or following in OPERATOR_CHARACTERS):
                index = after  # `loss < 0.1` is one term
                continue
            if pieces:
                tokens.append(("".join(pieces), whole_quote))
            pieces, whole_quote = [], False
            index = after
            continue
        whole_quote = False if pieces else whole_quote
        pieces.append(char)
        index += 1
    if pieces:
        tokens.append(("".join(pieces), whole_quote))
    return tokens


def _term(token: str, quoted: bool) -> Term:
    if quoted:
        return TextTerm(token)
    field = _FIELD.match(token)
    if field is not None:
        return _field_term(token, field["field"].lower(), field["value"])
    comparison = _COMPARISON.match(token)
    if comparison is not None:
        return _value_term(token, comparison["key"].strip(), comparison["op"], comparison["value"].strip())
    if any(char in OPERATOR_CHARACTERS for char in token):
        raise FilterError(f"filter term {token!r} is not understood; expected {FORMS}")
    return TextTerm(token)


def _field_term(token: str, name: str, value: str) -> FieldTerm:
    if name not in FilterField.__members__.values():
        fields = ", ".join(f"{field}:" for field in FilterField)
        raise FilterError(f"filter term {token!r} names no field {name!r}; expected one of {fields} (quote it "
                          f"to search the text)")
    if not value:
        raise FilterError(f"filter term {token!r} has no value; expected e.g. {name}:VALUE")
    if name == FilterField.STATE and value.lower() not in RunState.__members__.values():
        states = ", ".join(state.value for state in RunState)
        raise FilterError(f"filter term {token!r}: {value!r} is not a run state; expected one of {states}")
    return FieldTerm(FilterField(name), value.lower() if name == FilterField.STATE else value)


def _value_term(token: str, key: str, operator: str, value: str) -> ValueTerm:
    if not key:
        raise FilterError(f"filter term {token!r} has no name before {operator!r}; expected {FORMS}")
    if not value or value[0] in OPERATOR_CHARACTERS:
        raise FilterError(f"filter term {token!r} is not understood; expected {FORMS}")
    chosen = Operator.EQ if operator == "==" else Operator(operator)
    number = _number(value)
    if chosen.ordering and number is None:
        raise FilterError(f"filter term {token!r}: {operator!r} compares numbers, and {value!r} is not a finite "
                          "number; expected e.g. loss<0.1")
    return ValueTerm(key, chosen, number, value)


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None
