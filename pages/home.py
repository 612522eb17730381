import streamlit as st

from ui.frame import enter_app_frame

enter_app_frame()

st.title("How a convolutional network reads handwritten digits")
st.markdown(
    """
Train a small **convolutional neural network** on MNIST — 60,000 handwritten digits —
watch it learn step by step, then draw a digit and see what the network makes of it.

1. **Train** — pick the epochs, filters and dropout (or a classic tutorial's model),
   press Start and watch the loss fall and the accuracy climb, live. Stop whenever you
   like: what was learned so far is kept and saved.
2. **Draw** — draw a digit with the mouse, a finger or a pen. See the 28×28 image the
   network actually receives, how it was prepared (the way MNIST's digits were made),
   and the probability it gives each of the ten digits.
"""
)
left, right = st.columns(2)
left.page_link("pages/train.py", label="Train a network", icon="🏋️")
right.page_link("pages/draw.py", label="Draw a digit", icon="✍️")
st.caption("MNIST: Yann LeCun, Corinna Cortes and Christopher J. C. Burges (CC BY-SA 3.0), bundled with the app.")
