"""The YAML loaders a config is read with, and the bounds on what a document may hold.

libyaml's loader composes a whole document into nodes before anything can count them: a file of
20 MB of `[1,1,1,...]` took a minute and 3 GB before the builder refused it (and the 64 MiB a
file may have, several times that). Past SMALL_TEXT_CHARS a document is composed by PyYAML's
Python composer over the same parser's events instead, counting nodes as it goes, so it stops
at MAX_VALUES within seconds; smaller documents keep libyaml's own composer (twice as fast,
and they cannot hold enough nodes to matter).
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.composer import Composer

# Bounds on what a document may expand to. Aliases let a few hundred bytes name billions of
# values (the "billion laughs"); a real rules file has a few thousand values at most.
MAX_VALUES = 200_000
MAX_DEPTH = 64
# Below this a document holds too few nodes to take memory (a node is at least two characters).
SMALL_TEXT_CHARS = 1024 * 1024


class DocumentTooLarge(Exception):
    """The document expands past MAX_VALUES values or MAX_DEPTH levels."""

    def __init__(self, message: str, at: yaml.Node | yaml.Event) -> None:
        super().__init__(message)
        mark = at.start_mark
        self.line = mark.line + 1 if mark else 1
        self.column = mark.column + 1 if mark else 1


class _CountingComposer(Composer):
    """PyYAML's composer, refusing the node past MAX_VALUES before it is built."""

    nodes_left = MAX_VALUES

    def compose_node(self, parent: Any, index: Any) -> Any:
        self.nodes_left -= 1
        if self.nodes_left < 0:
            event = self.peek_event()  # type: ignore[attr-defined] # the parser's, mixed in
            raise DocumentTooLarge(f"the document holds more than {MAX_VALUES} values", event)
        return Composer.compose_node(self, parent, index)


class _BoundedSafeLoader(_CountingComposer, yaml.SafeLoader):
    """The pure-Python loader (error messages), counting."""


_CParser: Any = getattr(getattr(yaml, "_yaml", None), "CParser", None)

if _CParser is not None:

    class _BoundedCSafeLoader(
        _CParser,  # type: ignore[misc] # CParser is untyped
        _CountingComposer,
        yaml.constructor.SafeConstructor,
        yaml.resolver.Resolver,
    ):
        """libyaml's parser under the counting Python composer."""

        def __init__(self, stream: str) -> None:
            _CParser.__init__(self, stream)
            Composer.__init__(self)
            yaml.constructor.SafeConstructor.__init__(self)
            yaml.resolver.Resolver.__init__(self)

        # CParser's own get_single_node composes in C, without counting.
        get_single_node = Composer.get_single_node


def bounded(loader_class: type[yaml.SafeLoader], text: str) -> type[yaml.SafeLoader]:
    """`loader_class`, or its counting form when `text` is large enough to need one."""
    if len(text) <= SMALL_TEXT_CHARS:
        return loader_class
    if loader_class is yaml.SafeLoader:
        return _BoundedSafeLoader
    if _CParser is not None:
        return _BoundedCSafeLoader
    return _BoundedSafeLoader
