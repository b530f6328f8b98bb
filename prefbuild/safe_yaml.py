"""YAML from files users hand us (mixture configs, dataset cards), read with bounds.

`yaml.safe_load` never runs code, but an alias bomb (`a: &a [x, x]`, `b: &b [*a, *a]`, … nine levels deep) is a
few hundred bytes that expands to a billion nodes in anything that walks the result, and a document nested ten
thousand levels deep exhausts the recursion limit while it is composed. `load` refuses both before any value is
built: at most MAX_DEPTH levels of nesting and MAX_NODES nodes once aliases are expanded.
"""

from __future__ import annotations

from typing import Any

import yaml

from prefbuild.errors import PrefbuildError

MAX_DEPTH = 64  # our recipes and cards nest 4 levels at most
MAX_NODES = 100_000  # a card's YAML has ~100 nodes; dataset_info of a wide dataset a few thousand


class _LimitExceeded(Exception):
    pass


class _BoundedLoader(yaml.SafeLoader):
    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise _LimitExceeded(f"it nests deeper than {MAX_DEPTH} levels")
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _expanded_size(root: yaml.Node) -> int:
    """Nodes in the document with every alias expanded, counted without expanding (memoised by node)."""
    sizes: dict[int, int] = {}
    # iterative post-order walk: composed documents may share nodes (aliases) but never form cycles here,
    # since a cycle would need an alias to an enclosing anchor, which the size check also bounds
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    on_stack: set[int] = set()
    while stack:
        node, done = stack.pop()
        key = id(node)
        if key in sizes:
            continue
        children: list[yaml.Node] = []
        if isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        elif isinstance(node, yaml.MappingNode):
            children = [item for pair in node.value for item in pair]
        if done:
            on_stack.discard(key)
            sizes[key] = min(MAX_NODES + 1, 1 + sum(sizes[id(child)] for child in children))
            continue
        if key in on_stack:  # a recursive alias: infinitely large once expanded
            return MAX_NODES + 1
        on_stack.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in children if id(child) not in sizes)
    return sizes[id(root)]


def load(text: str, where: str) -> Any:
    """Parse one YAML document with the safe loader and the bounds above; errors name `where`."""
    loader = _BoundedLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if _expanded_size(node) > MAX_NODES:
            raise _LimitExceeded(f"it expands to more than {MAX_NODES:,} values (aliases repeating aliases)")
        return loader.construct_document(node)
    except _LimitExceeded as error:
        raise PrefbuildError(f"{where} is refused: {error}.") from None
    except yaml.YAMLError as error:
        raise PrefbuildError(f"{where} is not valid YAML: {str(error).splitlines()[0]}") from None
    except RecursionError:
        raise PrefbuildError(f"{where} is refused: it nests too deeply.") from None
    finally:
        loader.dispose()
