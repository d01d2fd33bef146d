"""How deep and how large a decoded JSON or YAML value is, found without recursion. No I/O.

``json.loads`` stops near 1,000 levels with a RecursionError, but what walks the value next
(jsonschema, the store, ``jsonify``) recurses too; YAML aliases can make a small document
expand to billions of values, or refer to itself. Bodies past ``MAX_DEPTH`` levels or
``MAX_VALUES`` values (aliases expanded) are refused (docs/service.md, Hostile content).
"""

from __future__ import annotations

from typing import Any

MAX_DEPTH = 64  # the deepest document fakemms reads (a scenario file) is about 8 levels
MAX_VALUES = 100_000  # lists, mappings and scalars, counted as if every alias were a copy


def problem(value: Any, max_depth: int = MAX_DEPTH, max_values: int = MAX_VALUES
            ) -> str | None:
    """Why ``value`` is refused (too deep, too many values, refers to itself), or None.
    Each list or mapping is looked at once, however many aliases name it."""
    if isinstance(value, dict) and len(value) <= max_values and not any(
            isinstance(v, dict | list) for v in value.values()):
        return None  # the usual case: one flat object
    measured: dict[int, tuple[int, int]] = {}  # id -> (depth below it, values in it)
    open_ids: set[int] = set()
    stack: list[tuple[Any, bool]] = [(value, False)]
    while stack:
        item, closing = stack.pop()
        children = _children(item)
        if children is None:
            continue
        key = id(item)
        if closing:
            open_ids.discard(key)
            depth, count = 1, 1
            for child in children:
                d, c = measured.get(id(child), (0, 1)) if _children(child) is not None \
                    else (0, 1)
                depth, count = max(depth, d + 1), count + c
            if depth > max_depth:
                return f"nested more than {max_depth} levels deep"
            if count > max_values:
                return f"more than {max_values} values"
            measured[key] = (depth, count)
            continue
        if key in measured:
            continue
        if key in open_ids:
            return "a value that contains itself"
        if len(open_ids) >= max_depth:
            return f"nested more than {max_depth} levels deep"
        open_ids.add(key)
        stack.append((item, True))
        stack.extend((child, False) for child in children)
    return None


def _children(item: Any) -> list[Any] | None:
    if isinstance(item, dict):
        return [*item.keys(), *item.values()]
    if isinstance(item, list):
        return item
    return None
