"""A faithful simulator of OpenAI's admin API, for the demo, the tests, drills and benchmarks."""
