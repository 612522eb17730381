"""The one exception type users see.

Every message says what went wrong and what to do about it: pages show it with
``st.error``, the CLI prints it and exits non-zero.
"""


class CnnError(Exception):
    """A problem the user can act on (bad input, missing data, damaged file)."""
