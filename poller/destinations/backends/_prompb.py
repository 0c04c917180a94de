"""The Prometheus remote write 1.0 messages, declared to the protobuf runtime.

Remote write 1.0 is `prometheus.WriteRequest` of prometheus/prompb (`remote.proto`,
`types.proto`). No well-kept package ships those generated classes alone (the ones that do pull
in `requests`, gRPC tooling or an OpenTelemetry SDK), so the few messages the sender needs are
declared here with their upstream names and field numbers, in a descriptor pool of their own,
and the protobuf runtime does all the encoding. Fields the sender never sets (exemplars,
native histograms) are left out: a receiver reads their absence as empty.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import Message

__all__ = [
    "GAUGE",
    "Label",
    "MetricMetadata",
    "Sample",
    "TimeSeries",
    "WriteRequest",
    "write_request",
]

_F = descriptor_pb2.FieldDescriptorProto
_OPTIONAL, _REPEATED = _F.LABEL_OPTIONAL, _F.LABEL_REPEATED

# message → (field, number, type, label, message or enum type) as in prompb.
_MESSAGES: Final = {
    "Sample": [
        ("value", 1, _F.TYPE_DOUBLE, _OPTIONAL, ""),
        ("timestamp", 2, _F.TYPE_INT64, _OPTIONAL, ""),
    ],
    "Label": [
        ("name", 1, _F.TYPE_STRING, _OPTIONAL, ""),
        ("value", 2, _F.TYPE_STRING, _OPTIONAL, ""),
    ],
    "TimeSeries": [
        ("labels", 1, _F.TYPE_MESSAGE, _REPEATED, ".prometheus.Label"),
        ("samples", 2, _F.TYPE_MESSAGE, _REPEATED, ".prometheus.Sample"),
    ],
    "MetricMetadata": [
        ("type", 1, _F.TYPE_ENUM, _OPTIONAL, ".prometheus.MetricMetadata.MetricType"),
        ("metric_family_name", 2, _F.TYPE_STRING, _OPTIONAL, ""),
        ("help", 4, _F.TYPE_STRING, _OPTIONAL, ""),
        ("unit", 5, _F.TYPE_STRING, _OPTIONAL, ""),
    ],
    "WriteRequest": [
        ("timeseries", 1, _F.TYPE_MESSAGE, _REPEATED, ".prometheus.TimeSeries"),
        ("metadata", 3, _F.TYPE_MESSAGE, _REPEATED, ".prometheus.MetricMetadata"),
    ],
}
_METRIC_TYPES: Final = (
    "UNKNOWN", "COUNTER", "GAUGE", "HISTOGRAM", "GAUGEHISTOGRAM", "SUMMARY", "INFO", "STATESET"
)
GAUGE: Final = _METRIC_TYPES.index("GAUGE")


def _file() -> descriptor_pb2.FileDescriptorProto:
    proto = descriptor_pb2.FileDescriptorProto(
        name="openai_poller/prompb.proto", package="prometheus", syntax="proto3"
    )
    for name, fields in _MESSAGES.items():
        message = proto.message_type.add(name=name)
        for field, number, kind, label, type_name in fields:
            added = message.field.add(name=field, number=number, type=kind, label=label)
            if type_name:
                added.type_name = type_name
        if name == "MetricMetadata":
            enum = message.enum_type.add(name="MetricType")
            for number, value in enumerate(_METRIC_TYPES):
                enum.value.add(name=value, number=number)
    return proto


_POOL: Final = descriptor_pool.DescriptorPool()
_POOL.Add(_file())


def _message(name: str) -> type[Message]:
    return message_factory.GetMessageClass(_POOL.FindMessageTypeByName(f"prometheus.{name}"))


# The classes, typed as what builds a message from keyword arguments (the protobuf stubs know
# no fields of a class made at run time). `WriteRequest.FromString` decodes.
Sample: Final[Callable[..., Message]] = _message("Sample")
Label: Final[Callable[..., Message]] = _message("Label")
TimeSeries: Final[Callable[..., Message]] = _message("TimeSeries")
MetricMetadata: Final[Callable[..., Message]] = _message("MetricMetadata")
WriteRequest: Final = _message("WriteRequest")


def write_request(**fields: object) -> Message:
    return WriteRequest(**fields)
