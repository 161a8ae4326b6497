"""Load the response plan (YAML) and explain every problem in it at once.

An operator edits this file in version control and finds out at start-up or from
`plan check FILE` whether it works. Each problem names its path (`services[2].owner_group`),
what is wrong and the fix, whether it came from YAML, from field validation or from a
reference between sections. The models live in `bot/plan_model.py`, the cross-section checks
in `bot/plan_checks.py`; this module is the front door and re-exports what callers need.
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError

from bot.plan_checks import (
    PlanError,
    PlanProblem,
    check_references,
    did_you_mean,
    format_problems,
)
from bot.plan_model import (
    EMAIL_PATTERN,
    ROLE_KEYS,
    SLUG_PATTERN,
    Contact,
    Group,
    IncidentManagerRole,
    Person,
    Plan,
    PlanMeta,
    PostmortemLeaderRole,
    Role,
    Roles,
    Service,
    Severity,
    Spaces,
)

__all__ = [
    "Contact", "Group", "IncidentManagerRole", "Person", "Plan", "PlanError", "PlanMeta",
    "PlanProblem", "PostmortemLeaderRole", "ROLE_KEYS", "Role", "Roles", "Service", "Severity", "Spaces",
    "check_plan_file", "format_problems", "load_plan", "parse_plan", "plan_json_schema",
    "write_json_schema",
]

SCHEMA_PATH = "docs/plan.schema.json"
_SCHEMA_HINT = f"see {SCHEMA_PATH} and plans/example.yaml for the expected shape"
_UNION_TAGS = {"<all>", "<categories>"}


def load_plan(path: str | Path) -> Plan:
    """Read and validate the plan file; raises PlanError listing every problem found."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PlanError(
            [PlanProblem(source, "file not found", "check the path, or set FIREBREAK_PLAN to "
                         "your plan (plans/example.yaml is a complete example to copy)")],
            source=source,
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PlanError(
            [PlanProblem(source, f"cannot read the file ({exc})",
                         "make it a readable UTF-8 text file")],
            source=source,
        ) from None
    return parse_plan(text, source=source)


def check_plan_file(path: str | Path) -> list[PlanProblem]:
    """Every problem in the plan file; an empty list means it is valid."""
    try:
        load_plan(path)
    except PlanError as exc:
        return exc.problems
    return []


def parse_plan(text: str, *, source: str = "<plan>") -> Plan:
    """Validate plan YAML given as text; `source` names it in messages (a file path)."""
    data = _read_yaml(text, source=source)
    try:
        return Plan.model_validate(data)
    except PlanError as exc:
        raise PlanError(exc.problems, source=source) from None
    except ValidationError as exc:
        field_problems = [_from_pydantic(error) for error in exc.errors()]
        # References are checked on the raw data too, so one run shows everything; a path
        # already reported (e.g. a malformed id) is not reported twice.
        seen = {p.path for p in field_problems}
        extra = [p for p in _all_reference_problems(data) if p.path not in seen]
        raise PlanError(_sorted(field_problems + extra), source=source) from None


def _all_reference_problems(data: Any) -> list[PlanProblem]:
    from bot.plan_integrations import check_integration_refs
    from bot.plan_response_checks import check_response_refs

    return check_references(data) + check_integration_refs(data) + check_response_refs(data)


class _DuplicateKey(yaml.constructor.ConstructorError):
    """A key given twice in one mapping; YAML would quietly keep only the last."""


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys, which plain YAML silently resolves last-wins."""

    def construct_mapping(self, node, deep=False):  # noqa: ANN001 - PyYAML's signature
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, (str, int)):
                continue
            if key in seen:
                raise _DuplicateKey(None, None, f"duplicate key `{key}`", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


# YAML 1.1 reads an unquoted 17:00 as the integer 1020 (base-60); keep clock times text, as
# YAML 1.2 does, so `to: 17:00` means what it says. Checked before the int resolver.
_SEXAGESIMAL = re.compile(r"^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$")
_UniqueKeyLoader.yaml_implicit_resolvers = {
    first: ([("tag:yaml.org,2002:str", _SEXAGESIMAL)] if first in "+-0123456789" else []) + list(resolvers)
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _read_yaml(text: str, *, source: str) -> Any:
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        line = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "the file"
        what = "; ".join(
            part for part in (getattr(exc, "context", None), getattr(exc, "problem", None)) if part
        ) or str(exc)
        if isinstance(exc, _DuplicateKey):
            problem = PlanProblem(where, f"{what} at {line}",
                                  "remove or rename one of the two; YAML would keep only the last")
        else:
            problem = PlanProblem(where, f"YAML syntax error at {line}: {what}",
                                  "check indentation (spaces, not tabs), colons and quoting on "
                                  "that line and the one before; quote values that contain `: ` "
                                  "or start with `*`, `&`, `!`, `{` or `[`")
        raise PlanError([problem], source=source) from None
    if data is None:
        raise PlanError(
            [PlanProblem(source, "the file is empty",
                         "start from plans/example.yaml, which has every section")],
            source=source,
        )
    if not isinstance(data, dict):
        raise PlanError(
            [PlanProblem(source, f"the file holds a YAML {type(data).__name__}, not a mapping",
                         f"write top-level keys: {', '.join(Plan.model_fields)}")],
            source=source,
        )
    return data


# -- pydantic errors -> PlanProblem -----------------------------------------------------------


def _path(loc: tuple) -> str:
    path = ""
    for part in loc:
        if part in _UNION_TAGS:
            continue
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def _from_pydantic(error: dict) -> PlanProblem:
    loc = tuple(part for part in error["loc"] if part not in _UNION_TAGS)
    path = _path(loc) or "(top level)"
    kind, value, ctx = error["type"], _show(error.get("input")), error.get("ctx") or {}
    field = str(loc[-1]) if loc else ""
    if kind == "extra_forbidden":
        return _unknown_key(loc, path)
    if kind == "missing":
        return PlanProblem(path, f"`{field}` is required", f"add `{field}:` here ({_SCHEMA_HINT})")
    if kind in ("value_error", "assertion_error") and hasattr(ctx.get("error"), "fix"):
        exc = ctx["error"]
        return PlanProblem(path, getattr(exc, "problem", str(exc)), exc.fix)
    if kind == "string_pattern_mismatch" and ctx.get("pattern") == SLUG_PATTERN:
        return PlanProblem(path, f"`{value}` is not a valid id",
                           "use lowercase letters, digits, `-` and `_`, starting with a letter or "
                           f"digit, e.g. `{_slugify(value)}`")
    if kind == "string_pattern_mismatch" and ctx.get("pattern") == EMAIL_PATTERN:
        return PlanProblem(path, f"`{value}` is not an e-mail address",
                           "write the person's e-mail/UPN, e.g. name@contoso.com")
    if kind == "string_too_short":
        return PlanProblem(path, f"`{field}` is empty", "write some text")
    if kind == "literal_error" and "<all>" in error["loc"]:
        return PlanProblem(path, f"`{value}` is not a list of alert categories",
                           "write `all`, or a list of categories such as [security, availability]")
    if kind == "literal_error":
        return PlanProblem(path, f"`{value}` is not allowed here",
                           f"use one of: {ctx.get('expected', '')}")
    if kind in ("bool_type", "bool_parsing"):
        return PlanProblem(path, f"`{value}` is not true or false", "write true or false")
    if kind.startswith("date_"):
        return PlanProblem(path, f"`{value}` is not a date", "write the date as YYYY-MM-DD")
    if kind == "string_type":
        return PlanProblem(path, f"`{value}` is not text",
                           "write text; quote it if YAML reads it as a number, date or "
                           'true/false, e.g. "1.10"')
    if kind in ("tuple_type", "list_type"):
        return PlanProblem(path, "should be a list",
                           "write a YAML list: one `- item` per line, or `[a, b]`")
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return PlanProblem(path, "should be a mapping of keys to values",
                           f"write `key: value` lines; {_allowed_keys_text(loc)}")
    message = error["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
    return PlanProblem(path, message, _SCHEMA_HINT)


def _unknown_key(loc: tuple, path: str) -> PlanProblem:
    key, model = loc[-1], _model_at(loc[:-1])
    allowed = list(model.model_fields) if model else []
    return PlanProblem(path, f"unknown key `{key}`{did_you_mean(key, allowed)}",
                       f"remove or rename it; {_allowed_keys_text(loc[:-1])}")


def _allowed_keys_text(loc: tuple) -> str:
    model = _model_at(loc)
    return f"allowed keys here: {', '.join(model.model_fields)}" if model else _SCHEMA_HINT


def _model_at(loc: tuple) -> type[BaseModel] | None:
    """The model class that validates the value at `loc`, walking field annotations."""
    current: Any = Plan
    for part in loc:
        current = _unwrap(current, index=isinstance(part, int))
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = current.model_fields.get(part)
        if field is None:
            return None
        current = field.annotation
    current = _unwrap(current, index=False)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap(annotation: Any, *, index: bool) -> Any:
    while True:
        args = get_args(annotation)
        origin = get_origin(annotation)
        if origin in (tuple, list) and index:
            return args[0]
        models = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
        if origin is not None and origin not in (tuple, list) and models:
            annotation = models[0]  # Optional[Model] / Annotated[Model, ...]
        elif origin is not None and origin not in (tuple, list) and args:
            annotation = args[0]  # Annotated[...] without a model inside
        else:
            return annotation


def _show(value: Any) -> str:
    """A value as the operator wrote it in YAML (null, true, [a, b]), not as Python prints it."""
    if isinstance(value, str):
        text = value
    else:
        try:
            text = yaml.safe_dump(value, default_flow_style=True, width=1000).strip()
            text = text.removesuffix("...").strip()
        except yaml.YAMLError:
            text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _slugify(value: Any) -> str:
    slug = re.sub(r"[^a-z0-9_-]+", "-", str(value).lower()).strip("-_")
    return slug or "my-id"


def _sorted(problems: list[PlanProblem]) -> list[PlanProblem]:
    """Roughly file order: by section as the model declares them, then by list index.

    Names below the section do not reorder (the sort is stable), so field errors keep
    pydantic's field order and reference problems follow them.
    """
    sections = list(Plan.model_fields)

    def key(problem: PlanProblem) -> list[tuple[int, int]]:
        parts = re.findall(r"[^.\[\]]+", problem.path)
        head = sections.index(parts[0]) if parts and parts[0] in sections else -1
        return [(0, head)] + [(1, int(p)) if p.isdigit() else (2, 0) for p in parts[1:]]

    return sorted(problems, key=key)


# -- JSON Schema ------------------------------------------------------------------------------


def plan_json_schema() -> dict:
    """JSON Schema of the plan file, for editors (yaml-language-server) and CI checks."""
    schema = Plan.model_json_schema(mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$comment": "Generated from bot/plan_model.py by `python -m bot.plan schema`; "
        "do not edit by hand.",
        **schema,
    }


def write_json_schema(path: str | Path = SCHEMA_PATH) -> Path:
    """Write the plan's JSON Schema (stable formatting, so diffs stay readable)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(plan_json_schema(), indent=2) + "\n", encoding="utf-8")
    return target


def _main(argv: list[str]) -> int:
    """`python -m bot.plan schema [PATH]` or `python -m bot.plan check FILE`."""
    if argv[:1] == ["schema"]:
        print(f"wrote {write_json_schema(*argv[1:2])}")
        return 0
    if argv[:1] == ["check"] and len(argv) == 2:
        problems = check_plan_file(argv[1])
        print(format_problems(problems) if problems else f"{argv[1]}: OK")
        return 1 if problems else 0
    print(_main.__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
