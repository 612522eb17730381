"""The class's drawings: what students labelled on the Draw page ("That's right" / "No, it's a
..."), digit by digit, the model's mistakes first; export them; the teacher deletes or clears.
"""

from __future__ import annotations

import io

import numpy as np
import streamlit as st

from cnn import collection
from cnn.errors import CnnError
from ui.frame import enter_app_frame
from ui.session import is_teacher

enter_app_frame()

EVERYONE = "everyone"
PER_DIGIT = 24  # tiles shown per digit
TILE = 3  # each 28x28 pixel shown as TILE x TILE


def _delete(drawing_id: str) -> None:
    if is_teacher():
        try:
            collection.delete_drawing(drawing_id)
        except CnnError as exc:
            st.session_state.drawings_error = str(exc)


def _clear() -> None:
    if is_teacher():
        st.session_state.drawings_message = f"Deleted {collection.clear()} drawings."


def tile(drawing: collection.Drawing) -> np.ndarray:
    """The 28x28 the model saw, dark on white, enlarged with crisp pixels."""
    return np.kron(255 - drawing.prepared, np.ones((TILE, TILE), np.uint8))


def export_bytes(drawings: list[collection.Drawing]) -> bytes:
    x, y = collection.as_arrays(drawings)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, x=x, y=y)
    return buffer.getvalue()


st.title("The class's drawings")
for key, show in (("drawings_error", st.error), ("drawings_message", st.success)):
    if key in st.session_state:
        show(st.session_state.pop(key))
drawings = collection.list_drawings()
if not drawings:
    st.info(
        "Nobody has labelled a drawing yet. On the Draw page, under the answer, press “That's right” or "
        "pick the right digit: the drawing joins this collection, and the model can be taught with it."
    )
    st.stop()

wrong = sum(d.wrong for d in drawings)
st.write(f"{len(drawings)} labelled drawings, {wrong} of them corrections (the model had read them wrong).")
names = sorted({d.owner_name for d in drawings if d.owner_name})
left, right = st.columns([2, 1], vertical_alignment="bottom")
who = left.selectbox("Drawn by", [EVERYONE, *names], key="drawings_by")  # nicknames: plain-text options
right.download_button(
    "Download (MNIST layout, .npz)",
    data=lambda: export_bytes(drawings),
    file_name="class-drawings.npz",
    mime="application/octet-stream",
    on_click="ignore",
    help="x: uint8 n x 28 x 28 (ink bright on black, as MNIST), y: the labels",
)
shown = [d for d in drawings if who == EVERYONE or d.owner_name == who]
for digit in range(10):
    mine = sorted((d for d in shown if d.label == digit), key=lambda d: (not d.wrong, d.created))
    if not mine:
        continue
    st.markdown(f"**{digit}**: {len(mine)} drawing{'s' * (len(mine) != 1)}, {sum(d.wrong for d in mine)} read wrong")
    columns = st.columns(12)
    for i, drawing in enumerate(mine[:PER_DIGIT]):
        with columns[i % 12]:
            st.image(
                tile(drawing),
                caption=f"read as {drawing.predicted}"
                if drawing.wrong
                else "read right"
                if drawing.predicted >= 0
                else "labelled",
            )
            if is_teacher():
                st.button(
                    "✕",
                    key=f"delete_{drawing.id}",
                    on_click=_delete,
                    args=(drawing.id,),
                    help="Delete this drawing from the class's collection",
                )
    if len(mine) > PER_DIGIT:
        st.caption(f"… and {len(mine) - PER_DIGIT} more.")

if is_teacher():
    st.divider()
    if st.toggle("Clear the whole collection", key="clear_toggle"):
        st.warning(f"All {len(drawings)} drawings will be deleted for everyone. This cannot be undone.")
        st.button("Delete them all", key="clear_all", type="primary", on_click=_clear)
st.caption(
    "Teach a model these drawings from the command line: `cnn finetune` (it saves a new run and says "
    "how it did, before and after, on drawings it did not see)."
)
