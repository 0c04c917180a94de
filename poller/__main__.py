"""`python -m poller` is the same as the `openai-poller` console script."""

from poller.cli import main

raise SystemExit(main())
