"""LwM2M core: paths, object definitions, the value model, content codecs, link format, the
object store and observation bookkeeping. Pure Python, no I/O: shared by the emulated module's
LwM2M client (``emulator.lwm2m.client``) and the embedded test server."""

from .attributes import NotificationAttributes, is_cancel_query, parse_attribute_query
from .codec import SUPPORTED_FORMATS, decode, default_format, encode, supports
from .definitions import ObjectDefinition, Operations, ResourceDefinition, ResourceType
from .errors import (
    BadRequest,
    CodecError,
    InternalServerError,
    LinkFormatError,
    LwM2MError,
    MethodNotAllowed,
    NotAcceptable,
    NotAcceptableFormatError,
    NotFound,
    Unauthorized,
    UnsupportedContentFormat,
    UnsupportedFormatError,
)
from .events import (
    AttributesWritten,
    InstanceCreated,
    InstanceDeleted,
    Notification,
    ResourceExecuted,
    ResourcesWritten,
    StoreEvent,
)
from .execargs import format_execute_arguments, parse_execute_arguments
from .formats import ContentFormat
from .linkformat import (
    Link,
    RegisterPayload,
    build_register_payload,
    format_links,
    parse_links,
    parse_register_payload,
)
from .model import (
    Content,
    LwM2MObject,
    MultiResource,
    ObjectInstance,
    ObjLink,
    ResourceInstance,
    SingleResource,
    Value,
    flatten,
)
from .observe import Observation, ObservationManager
from .paths import LwM2MPath
from .registry import ObjectRegistry, default_registry
from .store import ObjectStore

__all__ = [
    "SUPPORTED_FORMATS",
    "AttributesWritten",
    "BadRequest",
    "CodecError",
    "Content",
    "ContentFormat",
    "InstanceCreated",
    "InstanceDeleted",
    "InternalServerError",
    "Link",
    "LinkFormatError",
    "LwM2MError",
    "LwM2MObject",
    "LwM2MPath",
    "MethodNotAllowed",
    "MultiResource",
    "NotAcceptable",
    "NotAcceptableFormatError",
    "NotFound",
    "Notification",
    "NotificationAttributes",
    "ObjLink",
    "ObjectDefinition",
    "ObjectInstance",
    "ObjectRegistry",
    "ObjectStore",
    "Observation",
    "ObservationManager",
    "Operations",
    "RegisterPayload",
    "ResourceDefinition",
    "ResourceExecuted",
    "ResourceInstance",
    "ResourceType",
    "ResourcesWritten",
    "SingleResource",
    "StoreEvent",
    "Unauthorized",
    "UnsupportedContentFormat",
    "UnsupportedFormatError",
    "Value",
    "build_register_payload",
    "decode",
    "default_format",
    "default_registry",
    "encode",
    "flatten",
    "format_execute_arguments",
    "format_links",
    "is_cancel_query",
    "parse_attribute_query",
    "parse_execute_arguments",
    "parse_links",
    "parse_register_payload",
    "supports",
]
