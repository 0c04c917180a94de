"""`.venv/bin/python -m bench --size full`: every benchmark, one run, results in bench/results."""

from bench.run import main

if __name__ == "__main__":
    raise SystemExit(main())
