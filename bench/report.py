"""The Markdown rendering of a benchmark result (bench/results/latest.md)."""

from __future__ import annotations

from typing import Any


def _n(value: Any, digits: int = 0) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _met(value: Any) -> str:
    return "met" if value else "**missed**"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
        *("| " + " | ".join(row) + " |" for row in rows),
    ]


def _api_calls(section: dict[str, Any]) -> list[str]:
    modes = list(section["modes"])
    window = section["window"]
    lines = [
        f"## 1. API calls: {window['days']}-day backfill of every stream",
        "",
        "Calls counted by the simulator (`/_sim/stats`, no faults, so no retries). Minimum = "
        "ceil(buckets / max limit) per segment of one width; Elastic = its documented pattern "
        "(no `limit`: 60/24/7 buckets per page for 1m/1h/1d, up to now); for `auto` the Elastic "
        "column uses its default width, 1m. \"—\": Elastic does not collect that stream.",
        "",
    ]
    header = ["stream"]
    for mode in modes:
        header += [f"{mode}: poller", f"{mode}: minimum", f"{mode}: Elastic"]
    rows = []
    for stream in section["modes"][modes[0]]["streams"]:
        row = [stream]
        for mode in modes:
            r = section["modes"][mode]["streams"][stream]
            row += [_n(r["calls"]), _n(r["minimum"]), _n(r["elastic"])]
        rows.append(row)
    total = ["**total**"]
    for mode in modes:
        m = section["modes"][mode]
        total += [f"**{m['total_calls']}**", f"**{m['total_minimum']}**",
                  f"**{m['elastic_calls']}** (poller on the same streams: "
                  f"{m['calls_on_streams_elastic_collects']})"]
    rows.append(total)
    lines += _table(header, rows)
    lines += [
        "",
        f"Directory listing (names next to ids, once per org per `directory_ttl`, not per "
        f"stream): {section['directory_calls']} calls. Elastic's default 1m width on its 8 "
        f"usage streams over the same window: {section['elastic_default_1m_usage_calls']:,} "
        f"calls. Audit events in the window: {section['audit_events']}.",
        "",
        f"Target: {section['target']} — {_met(section['met'])}.",
        "",
    ]
    return lines


def _throughput(section: dict[str, Any]) -> list[str]:
    w = section["workload"]
    lines = [
        "## 2. Throughput: documents per second, simulator → poller → sink",
        "",
        f"Workload: `{w['stream']}` at {w['bucket_width']} over {w['days']} days, grouped by "
        f"{', '.join(w['group_by'])} ({w['pages']} pages, "
        f"{section['simulator_raw']['documents']:,} documents).",
        "",
    ]
    rows = [
        ["simulator raw serving (plain httpx, bodies read)",
         _n(section["simulator_raw"]["documents"]), _n(section["simulator_raw"]["seconds"], 2),
         _n(section["simulator_raw"]["docs_per_s"]), ""],
        ["poller with a sink that stores nothing (fetch + parse + map)",
         _n(section["poller_no_sink"]["documents"]), _n(section["poller_no_sink"]["seconds"], 2),
         _n(section["poller_no_sink"]["docs_per_s"]), ""],
    ]
    for sink, label in (("sqlite", "SQLite"), ("elasticsearch", "Elasticsearch")):
        raw, e2e = section[f"{sink}_raw"], section[f"{sink}_e2e"]
        how = "executemany" if sink == "sqlite" else "helpers.bulk"
        rows.append([f"{label} raw ingest of the same documents ({how})", _n(raw["documents"]),
                     _n(raw["seconds"], 2), _n(raw["docs_per_s"]), ""])
        rows.append([f"**{label} end to end**", _n(e2e["documents"]), _n(e2e["seconds"], 2),
                     f"**{_n(e2e['docs_per_s'])}**",
                     f"{e2e['ratio_to_limit']:.2f} of {_n(e2e['limit_docs_per_s'])} — "
                     f"{_met(e2e['met'])}"])
    lines += _table(["run", "documents", "seconds", "docs/s", "vs the slower limit"], rows)
    lines += ["", f"Target: {section['target']} — {_met(section['met'])}.", ""]
    return lines


def _cpu(section: dict[str, Any]) -> list[str]:
    cpu = section["cpu_seconds_per_100k_docs"]
    prof = section["profile"]
    lines = [
        "## 3. Poller CPU",
        "",
        f"CPU seconds per 100k documents ({section['measured_in']}): "
        f"no sink {cpu['no_sink']:.1f} s, SQLite {cpu['sqlite']:.1f} s, "
        f"Elasticsearch {cpu['elasticsearch']:.1f} s.",
        "",
        f"cProfile, {prof['run']}; top 10 by **own time (tottime)**:",
        "",
    ]
    lines += _table(
        ["function", "calls", "tottime s", "cumtime s"],
        [[f"`{r['function']}`", _n(r["calls"]), _n(r["tottime"], 3), _n(r["cumtime"], 3)]
         for r in prof["top_tottime"]],
    )
    lines += ["", "Top 10 by cumulative time:", ""]
    lines += _table(
        ["function", "calls", "tottime s", "cumtime s"],
        [[f"`{r['function']}`", _n(r["calls"]), _n(r["tottime"], 3), _n(r["cumtime"], 3)]
         for r in prof["top_cumulative"]],
    )
    es = section["profile_elasticsearch"]
    lines += ["", f"Elasticsearch: {es['run']}; top 15 by cumulative time:", ""]
    lines += _table(
        ["function", "calls", "tottime s", "cumtime s"],
        [[f"`{r['function']}`", _n(r["calls"]), _n(r["tottime"], 3), _n(r["cumtime"], 3)]
         for r in es["top_cumulative"]],
    )
    return [*lines, ""]


def _memory(section: dict[str, Any]) -> list[str]:
    w = section["workload"]
    lines = [
        "## 4. Peak RSS",
        "",
        f"`{w['stream']}` at {w['bucket_width']}, {w['group_by']}, into {w['sink']}, each run "
        "in a fresh process (VmHWM).",
        "",
    ]
    rows = [
        [label, _n(r["days"]), _n(r["documents"]), _n(r["seconds"], 1), _n(r["peak_rss_mib"], 1)]
        for label, r in (("smaller (~100k at full size)", section["small"]),
                         ("larger (~1M at full size)", section["large"]))
    ]
    lines += _table(["backfill", "days", "documents", "seconds", "peak RSS MiB"], rows)
    lines += ["", f"Ratio {section['ratio']:.2f} for {section['documents_ratio']:.1f}x the "
              f"documents. Target: {section['target']} — {_met(section['met'])}.", ""]
    return lines


def _freshness(section: dict[str, Any]) -> list[str]:
    lines = [
        "## 5. Freshness in `run` mode",
        "",
        f"{section['mode']}; streams {', '.join(section['streams'])} at 1m, interval "
        f"{section['interval_seconds']} s, simulator settle time {section['settle_seconds']} s "
        "(= `settlement_grace`).",
        "",
    ]
    lines += _table(
        ["stream", "bucket start", "documents", "settled → searchable, s"],
        [[s["stream"], str(s["bucket_start"]), _n(s["documents"]), _n(s["seconds"], 1)]
         for s in section["samples"]],
    )
    lines += ["", f"Median {section['median_seconds']:.1f} s, max {section['max_seconds']:.1f} s. "
              f"Target: {section['target']} — {_met(section['met'])}.", ""]
    return lines


def _store(section: dict[str, Any]) -> list[str]:
    lines = [
        "## 6. The embedded store",
        "",
        "Bytes per document on disk (file + WAL after close), each stream's real documents "
        "(large org, 1m, every dimension) in a store of its own:",
        "",
    ]
    lines += _table(
        ["stream", "documents", "bytes", "bytes/document", "≤ 1 KB"],
        [[name, _n(r["documents"]), _n(r["bytes"]), _n(r["bytes_per_document"], 1),
          _met(r["met"])] for name, r in section["bytes_per_document"].items()],
    )
    rss = section["rss"]
    lines += ["", "Peak RSS of a fresh process writing the documents through the sink:", ""]
    lines += _table(
        ["store", "documents", "seconds", "store MB", "peak RSS MiB"],
        [[label, _n(r["documents"]), _n(r["seconds"], 1), _n(r["store_bytes"] / 1e6, 1),
          _n(r["peak_rss_mib"], 1)] for label, r in (("smaller", rss["small"]),
                                                     ("larger", rss["large"]))],
    )
    lines += ["", f"Ratio {rss['ratio']:.2f} ({rss['target']}) — {_met(rss['met'])}.", ""]
    report = section["report"]
    lines += [f"`report` over the larger store ({_n(report['documents'])} documents, "
              f"{report['store_bytes'] / 1e6:,.0f} MB), two runs each:", ""]
    lines += _table(
        ["grouping and window", "groups", "seconds", "< 3 s"],
        [[name, _n(r["groups"]), " / ".join(f"{x:.2f}" for x in r["seconds"]), _met(r["met"])]
         for name, r in report["runs"].items()],
    )
    return [*lines, "", f"Target: {section['target']} — {_met(section['met'])}.", ""]


def _client_memory(section: dict[str, Any]) -> list[str]:
    lines = [
        "## 7. The client alone, per organization size",
        "",
        "`completions` at 1m, every dimension, pages sized by `max_results_per_page`; a fresh "
        "process per workload (VmHWM). Calls against the minimum at the maximum `limit`.",
        "",
    ]
    rows = []
    for size, row in section["sizes"].items():
        for label, r in row.items():
            rows.append([size, label, _n(r["days"]), _n(r["pages"]), _n(r["results"]),
                         _n(r["largest_page_results"]), _n(r["peak_rss_mib"], 1),
                         _n(r["calls"]), _n(r["minimum_calls"]), f"{r['calls_ratio']:.2f}"])
    lines += _table(["size", "workload", "days", "pages", "results", "largest page",
                     "peak RSS MiB", "calls", "minimum", "ratio"], rows)
    return [*lines, "", f"Target: {section['target']} — {_met(section['met'])}.", ""]


def _process_memory(section: dict[str, Any]) -> list[str]:
    lines = [
        "## 8. The real command, per organization size",
        "",
        "`python -m poller` into SQLite at the default settings, against a wall-clock "
        "simulator: a one-day `backfill` of completions at 1m, and `run` until its first cycle "
        "ended on every stream (a day of every stream). Peak RSS and CPU from the kernel's "
        "accounting of the child (`wait4`).",
        "",
    ]
    rows = []
    for size, row in section["sizes"].items():
        for label, r in row.items():
            rows.append([size, label, _n(r.get("cycle_seconds", r["seconds"]), 1),
                         _n(r["cpu_seconds"], 1), _n(r["peak_rss_mib"], 1), _n(r["documents"]),
                         _n(r["store_bytes"] / 1e6, 1), _n(r["bytes_per_document"], 0),
                         _n(r["api_calls"])])
    lines += _table(["size", "command", "seconds", "CPU s", "peak RSS MiB", "documents",
                     "store MB", "bytes/doc", "API calls"], rows)
    ratio = section["large_to_small"]
    lines += ["", f"Large / small peak: {'—' if ratio is None else f'{ratio:.2f}'}. "
              f"Target: {section['target']} — {_met(section['met'])}.", ""]
    return lines


def markdown(result: dict[str, Any]) -> str:
    m = result["machine"]
    lines = [
        f"# Benchmarks ({result['size']})",
        "",
        f"`{result['command']}` — {result['generated_at']}, {result['seconds']:.0f} s. Machine: "
        f"{m['cpu_model']}, {m['cores']} cores, {m['ram_gib']} GiB RAM, Python {m['python']}, "
        f"{m['os']}. Elasticsearch: {result['elasticsearch']}.",
        "",
    ]
    lines += _table(
        ["target", "met"],
        [[f"{name}: {t['target']}", _met(t["met"])] for name, t in result["targets"].items()],
    )
    lines.append("")
    renderers = {"api_calls": _api_calls, "throughput": _throughput, "cpu": _cpu,
                 "memory": _memory, "freshness": _freshness, "store": _store,
                 "client_memory": _client_memory, "process_memory": _process_memory}
    for name, render in renderers.items():
        section = result["sections"].get(name, {})
        if "error" in section:
            lines += [f"## {name}", "", f"Failed: `{section['error']}`", ""]
        else:
            lines += render(section)
    return "\n".join(lines)
