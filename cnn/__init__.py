"""The core of the MNIST CNN playground: data, models, training, saved runs, prediction.

Usable without the UI (``python -m cnn --help``); never imports streamlit, and imports
TensorFlow only when a function needs it (see ``cnn.runtime``).
"""
