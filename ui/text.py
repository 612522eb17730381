"""User text (run names, nicknames) shown as what it is: text, never markup.

In a classroom anyone can name a run ``<a href=...>``, ``![x](http://host/img)`` or
``:red[big]``; every page shows it to everyone. Streamlit renders markdown (links, images,
colours, LaTeX) and plotly renders a subset of HTML (links, spans with style) in names,
titles and hover text, so user text goes through one of these on its way out.
"""

from __future__ import annotations

import html
import string

# Every ASCII punctuation mark backslash-escaped (CommonMark lets any of them be). GFM also
# makes bare addresses into links (http://a.b, www.a.b, a@b.c) whatever the escapes, so an
# invisible word joiner follows each ':', '.' and '@' to keep them apart.
WORD_JOINER = "\u2060"
_MARKDOWN_SPECIAL = str.maketrans(
    {ch: "\\" + ch for ch in string.punctuation} | {ch: "\\" + ch + WORD_JOINER for ch in ":.@"}
)


def md(text: object) -> str:
    """``text`` for a markdown string, shown exactly as typed: no link, image, emphasis, colour
    or formula can form from it."""
    return str(text).translate(_MARKDOWN_SPECIAL)


def plotly_text(text: object) -> str:
    """``text`` for a plotly name, title or hover text: ``&``, ``<`` and ``>`` as entities."""
    return html.escape(str(text), quote=False)
