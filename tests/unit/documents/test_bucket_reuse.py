"""What the bucket mapper works out once per bucket is reused only for the same request and
bucket: a document comes out the same whether or not another request's bucket came first."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from golden_support import FakeNames, FakePriceTable, usage_result

from poller.documents import MappingContext, buckets, map_usage_result
from poller.streams import BucketWidth

START = 1767254400
BASE = MappingContext(
    organization_id="org-acme",
    organization_name="Acme",
    bucket_width=BucketWidth.HOUR,
    group_by=("project_id", "model"),
    names=FakeNames(),
    price_table=FakePriceTable(),
)
RESULT = usage_result(
    {
        "object": "organization.usage.completions.result",
        "input_tokens": 10,
        "output_tokens": 2,
        "num_model_requests": 1,
        "project_id": "proj_alpha",
        "model": "gpt-4o",
    }
)
VARIANTS: dict[str, tuple[MappingContext, int | float]] = {
    "organization": (dataclasses.replace(BASE, organization_id="org-other"), START),
    "no organization name": (dataclasses.replace(BASE, organization_name=None), START),
    "namespace": (dataclasses.replace(BASE, namespace="prod"), START),
    "width": (dataclasses.replace(BASE, bucket_width=BucketWidth.DAY), START),
    "group_by": (dataclasses.replace(BASE, group_by=("model",)), START),
    "bucket": (BASE, START + 3600),
    "start as a float": (BASE, float(START)),  # equal to START, yet another id
}


def _mapped(ctx: MappingContext, start: Any) -> tuple[str, str]:
    doc = map_usage_result(ctx, "completions", start, START + 86400, RESULT)
    return doc.doc_id, json.dumps(doc.source)


@pytest.mark.parametrize("variant", VARIANTS)
def test_a_bucket_is_reused_only_for_its_own_request(variant: str) -> None:
    ctx, start = VARIANTS[variant]
    buckets._bucket.cache_clear()
    fresh = _mapped(ctx, start)
    buckets._bucket.cache_clear()
    base = _mapped(BASE, START)
    after_base = _mapped(ctx, start)
    assert after_base == fresh
    assert after_base != base
