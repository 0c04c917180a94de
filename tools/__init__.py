"""Build-time tools of the source checkout, run as `python -m tools.<name>`.

Not part of the wheel (`pyproject.toml` packages only `poller*`), and nothing in `poller/` imports
them: they may import `poller`, never the other way round.
"""
