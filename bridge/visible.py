"""Stored text shown as data, never acted on: the one list of characters a view writes as
escapes instead of printing.

- Bidi controls (embeddings, overrides, isolates, marks): an unclosed U+202E in a stored error
  reversed the rest of its line, the bridge's own words after it included, so the dashboard's
  'error (HTTP 502)' read '(205 PTTH)' and 'exe.gnp' read 'png.exe'. Every view shows them
  as `\\u202e`.
- In a terminal also C0 and C1 controls and DEL (ESC starts colour, cursor moves and OSC
  sequences that retitle the window or write to the clipboard) and lone surrogates, which
  stdout cannot encode (a traceback). HTML shows controls as nothing and keeps newlines in
  <pre>, so the dashboard escapes only the bidi controls.
"""

from __future__ import annotations

BIDI_CONTROLS = (0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A))
TERMINAL_CONTROLS = (*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0), *range(0xD800, 0xE000))


def _escapes(codes: tuple[int, ...]) -> dict[int, str]:
    return {c: f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}" for c in codes}


_BIDI = _escapes(BIDI_CONTROLS)
_TERMINAL = _escapes(BIDI_CONTROLS + TERMINAL_CONTROLS)
_BIDI_CHARS = frozenset(chr(c) for c in BIDI_CONTROLS)


def bidi_visible(text: str) -> str:
    """`text` with its bidi controls written as escapes (`\\u202e`): it cannot reorder what
    follows it on the page. Text without any is returned as it is (the common case)."""
    return text.translate(_BIDI) if not _BIDI_CHARS.isdisjoint(text) else text


def terminal_safe(text: str) -> str:
    """`text` for a terminal: every character a terminal would act on (or could not print)
    written as its escape (`\\x1b`, `\\u202e`), so stored data shows as data and stays on its
    line."""
    return text.translate(_TERMINAL)
