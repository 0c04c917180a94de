"""The usage dashboard: requests, tokens, estimated cost, and every usage stream's own measure."""

from __future__ import annotations

from typing import Any, Final

from poller.streams import STREAM_NAMES, StreamKind, get_stream
from tools.assets.kibana._columns import BYTES, USD, Date, Metric, Terms, total
from tools.assets.kibana._common import NAV, USAGE_DASHBOARD_ID, kql_dataset
from tools.assets.kibana._lens import Lens, by_time
from tools.assets.kibana._panels import Markdown, Panel, dashboard

USAGE_STREAMS: Final = tuple(s for s in STREAM_NAMES if get_stream(s).kind is StreamKind.USAGE)


def _top_table(title: str, id_field: str, name_field: str, w: int = 16) -> Lens:
    return Lens(
        title,
        "table",
        {
            "id": Terms(id_field, "Id", size=10, order_by="tokens"),
            "name": Terms(name_field, "Name", size=1, order_by="tokens", missing=True, other=False),
            "requests": total("openai.base.num_model_requests", "Requests"),
            "tokens": total("openai.base.usage_tokens", "Tokens"),
            "cost": total("openai.base.cost_estimate_usd", "Estimated cost", USD),
        },
        kql=kql_dataset(*USAGE_STREAMS),
        w=w,
    )


def usage_dashboard() -> dict[str, Any]:
    panels: list[Panel] = [
        Markdown(
            "### OpenAI usage\n"
            "Collected by openai-poller from the Usage API. `@timestamp` is the start of each "
            "usage bucket; the newest ~10 minutes are still arriving. Names (project, user, "
            "API key) come from the organization directory; where it did not know an id, the id "
            "is shown. "
            f"Costs here are **estimates** from the price table.\n\n{NAV}",
            h=5,
        ),
        Lens(
            "Requests",
            "metric",
            {"v": total("openai.base.num_model_requests", "Requests")},
            w=12,
            h=6,
        ),
        Lens(
            "Tokens",
            "metric",
            {"v": total("openai.base.usage_tokens", "Tokens")},
            w=12,
            h=6,
            description="Completions (input + output + audio), embeddings and moderations.",
        ),
        Lens(
            "Estimated cost",
            "metric",
            {"v": total("openai.base.cost_estimate_usd", "Estimated cost", USD)},
            w=12,
            h=6,
        ),
        Lens("Images", "metric", {"v": total("openai.images.images", "Images")}, w=12, h=6),
        by_time(
            "Tokens by model",
            total("openai.base.usage_tokens", "Tokens"),
            "openai.base.model",
            w=24,
            h=12,
        ),
        by_time(
            "Requests by stream",
            total("openai.base.num_model_requests", "Requests"),
            "data_stream.dataset",
            w=24,
            h=12,
        ),
        Lens(
            "Completion tokens: input, output, cached",
            "line",
            {
                "time": Date(),
                "input": total("openai.completions.input_tokens", "Input tokens"),
                "output": total("openai.completions.output_tokens", "Output tokens"),
                "cached": total("openai.completions.input_cached_tokens", "Cached input tokens"),
                "audio_in": total("openai.completions.input_audio_tokens", "Audio input tokens"),
                "audio_out": total("openai.completions.output_audio_tokens", "Audio output tokens"),
            },
            kql=kql_dataset("completions"),
        ),
        Lens(
            "Requests by model",
            "bar_horizontal",
            {
                "model": Terms("openai.base.model", "Model", size=15, order_by="requests"),
                "requests": total("openai.base.num_model_requests", "Requests"),
            },
        ),
        _top_table("Top projects", "openai.base.project_id", "openai.base.project_name"),
        _top_table("Top users", "openai.base.user_id", "openai.base.user_email"),
        _top_table("Top API keys", "openai.base.api_key_id", "openai.base.api_key_name"),
        by_time(
            "Images by size",
            total("openai.images.images", "Images"),
            "openai.images.size",
            kql=kql_dataset("images"),
        ),
        by_time(
            "Audio transcribed (seconds) by model",
            total("openai.audio_transcriptions.seconds", "Seconds"),
            "openai.base.model",
            kql=kql_dataset("audio_transcriptions"),
        ),
        by_time(
            "Speech synthesized (characters) by model",
            total("openai.audio_speeches.characters", "Characters"),
            "openai.base.model",
            kql=kql_dataset("audio_speeches"),
        ),
        by_time(
            "Vector store bytes by project",
            Metric("max", "openai.vector_stores.usage_bytes", "Bytes (peak)", fmt=BYTES),
            "openai.base.project_label",
            kql=kql_dataset("vector_stores"),
            w=12,
        ),
        by_time(
            "Code interpreter sessions by project",
            total("openai.code_interpreter_sessions.num_sessions", "Sessions"),
            "openai.base.project_label",
            kql=kql_dataset("code_interpreter_sessions"),
            w=12,
        ),
        by_time(
            "File search calls by project",
            total("openai.file_search_calls.num_requests", "Calls"),
            "openai.base.project_label",
            kql=kql_dataset("file_search_calls"),
            w=12,
        ),
        by_time(
            "Web search calls by context size",
            total("openai.web_search_calls.num_requests", "Calls"),
            "openai.web_search_calls.context_level",
            kql=kql_dataset("web_search_calls"),
            w=12,
        ),
    ]
    return dashboard(
        USAGE_DASHBOARD_ID,
        "[OpenAI poller] Usage",
        "Tokens, requests, images, audio, vector stores, code interpreter and tool calls by model, "
        "project, user and API key.",
        panels,
        "now-24h",
    )
