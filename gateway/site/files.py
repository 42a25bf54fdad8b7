"""YAML configuration files whose every error names the file, the line and the field.

Site files (:mod:`gateway.site.config`) and device profiles (:mod:`gateway.site.profiles`) are read the same
way: the text is parsed once into data and once into a node tree that remembers the line of every
key, then validated by pydantic; each pydantic error's location (``readers[2].model``) is looked up
in that tree. A YAML syntax error is reported at its own line.

    doc = parse_yaml(text, filename)          # ConfigError on a syntax error
    value = doc.validate(adapter, context)    # ConfigError listing every problem
    doc.problem(("readers", 2, "relay"), "…") # a ConfigProblem for a check pydantic cannot make
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

__all__ = ["ConfigError", "ConfigProblem", "StrictModel", "YamlDocument", "parse_yaml", "read_text"]

T = TypeVar("T")
Location = tuple[str | int, ...]


class StrictModel(BaseModel):
    """Base of every configuration model: unknown keys are errors (a typo must not pass), values frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong with a configuration file."""

    file: str | None
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = self.file or "<config>"
        if self.line is not None:
            where += f":{self.line}"
        return f"{where}: {self.field}: {self.message}"


class ConfigError(Exception):
    """A configuration file (or a secret it references) is not usable; lists every problem found."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def read_text(path: Path) -> str:
    """The text of a configuration file; ``ConfigError`` naming the file if it cannot be read."""
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([ConfigProblem(str(path), None, "file", exc.strerror or str(exc))]) from exc


@dataclass(frozen=True)
class YamlDocument:
    """Parsed YAML data, with the line of every key path, from ``filename``."""

    data: Any
    lines: dict[Location, int]
    filename: str

    def problem(self, loc: Location, message: str) -> ConfigProblem:
        """A problem at ``loc`` (a pydantic-style location), with the line of the nearest key."""
        return ConfigProblem(self.filename, _line_of(self.lines, loc), _dotted(loc), message)

    def validate(self, adapter: TypeAdapter[T], context: dict[str, Any] | None = None) -> T:
        """Validate the data; every pydantic error becomes a problem naming file, line and field."""
        if not isinstance(self.data, dict):
            raise ConfigError([ConfigProblem(self.filename, 1, "<root>", "the file must be a mapping of keys")])
        try:
            return adapter.validate_python(self.data, context=context)
        except ValidationError as exc:
            raise ConfigError([self.problem(tuple(err["loc"]), err["msg"]) for err in exc.errors()]) from exc


def parse_yaml(text: str, filename: str = "<config>") -> YamlDocument:
    """Parse YAML text; a syntax error raises ``ConfigError`` naming its line."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise ConfigError([ConfigProblem(filename, line, "yaml", str(exc.problem or exc))]) from exc
    except yaml.YAMLError as exc:  # e.g. a control character that the reader refuses outright
        raise ConfigError([ConfigProblem(filename, None, "yaml", str(exc))]) from exc
    return YamlDocument(data, _line_index(node) if node is not None else {}, filename)


def _line_index(node: yaml.Node, path: Location = ()) -> dict[Location, int]:
    """Map every key path in the YAML document to its 1-based line number."""
    index = {path: node.start_mark.line + 1}
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            index[(*path, key.value)] = key.start_mark.line + 1
            index.update({k: v for k, v in _line_index(value, (*path, key.value)).items() if k != (*path, key.value)})
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            index.update(_line_index(item, (*path, i)))
    return index


def _line_of(lines: dict[Location, int], loc: Location) -> int | None:
    # pydantic reports the deepest location; a missing field is reported under its parent.
    for end in range(len(loc), -1, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None


def _dotted(loc: Location) -> str:
    parts: list[str] = []
    for part in loc:
        if isinstance(part, int):
            parts.append(f"[{part}]")
        else:
            parts.append(("." if parts else "") + str(part))
    return "".join(parts) or "<root>"
