"""Request bodies decoded strictly by msgspec, exactly as the WebSocket submit decodes its message.

Litestar converts bodies in msgspec's lax mode, which reads `"slippageBps": "5e1"` or `5.0` as 50 and 5.
A trading API should not guess: a field of the wrong JSON type is a 400 naming the field, over HTTP as
over WebSocket. Used as the handler's `dto`, this keeps the msgspec struct as the documented schema.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Generator
from typing import Any, Generic, TypeVar

import msgspec
from litestar.dto import AbstractDTO
from litestar.dto.data_structures import DTOFieldDefinition
from litestar.exceptions import ValidationException
from litestar.typing import FieldDefinition

from order_engine.domain.errors import InvalidOrder

T = TypeVar("T", bound=msgspec.Struct)


class StrictJSON(AbstractDTO[T], Generic[T]):
    """`dto=StrictJSON[Model]`: the body is `msgspec.json.decode(body, type=Model)` in strict mode."""

    @classmethod
    def create_for_field_definition(
        cls, field_definition: FieldDefinition, handler_id: str, backend_cls: Any = None
    ) -> None:
        """No transfer model: the struct itself is decoded."""

    @classmethod
    def generate_field_definitions(cls, model_type: type[Any]) -> Generator[DTOFieldDefinition, None, None]:
        raise NotImplementedError("StrictJSON decodes the struct itself")  # only the backends above call this

    @classmethod
    def create_openapi_schema(cls, field_definition: FieldDefinition, handler_id: str, schema_creator: Any) -> Any:
        return schema_creator.for_field_definition(FieldDefinition.from_annotation(cls.model_type))

    def decode_bytes(self, value: bytes) -> T:
        return decode_strict(value, self.model_type)

    def decode_builtins(self, value: dict[str, Any]) -> T:
        try:
            return msgspec.convert(value, self.model_type)
        except msgspec.ValidationError as exc:
            raise _invalid(str(exc)) from None


def decode_strict(body: bytes, model: type[T]) -> T:
    reject_duplicate_keys(body, model)
    try:
        return msgspec.json.decode(body, type=model)
    except msgspec.ValidationError as exc:
        raise _invalid(str(exc)) from None
    except msgspec.DecodeError as exc:
        raise ValidationException(f"request body is not valid JSON: {exc}") from None


_AT_PATH = re.compile(r"^(?P<message>.*) - at `\$\.(?P<key>[^`]+)`$")


def _invalid(message: str) -> ValidationException:
    """The shape Litestar gives its own validation errors (message, and the field as key), so one
    handler (errors.validation_failed) words them all."""
    key = "data"
    if match := _AT_PATH.match(message):
        message, key = match["message"], match["key"]
    return ValidationException("Validation failed for the request body", extra=[{"message": message, "key": key}])


class _DuplicateKey(Exception):
    def __init__(self, key: str) -> None:
        self.key = key


def _unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            raise _DuplicateKey(key)
        seen.add(key)
    return dict(pairs)


@functools.cache
def _quoted_names(model: type[msgspec.Struct]) -> tuple[bytes, ...] | None:
    """`"name"` for every field of `model` and of the structs inside it, or None if it holds free-form
    objects (a dict or Any), whose keys cannot be known in advance."""
    names: set[bytes] = set()

    def walk(info: msgspec.inspect.Type) -> bool:
        if isinstance(info, msgspec.inspect.StructType):
            for f in info.fields:
                names.add(b'"' + f.encode_name.encode() + b'"')
                if not walk(f.type):
                    return False
            return True
        if isinstance(info, msgspec.inspect.DictType | msgspec.inspect.AnyType):
            return False
        inner = getattr(info, "types", None) or [getattr(info, "item_type", None)]
        return all(walk(t) for t in inner if t is not None)

    return tuple(sorted(names)) if walk(msgspec.inspect.type_info(model)) else None


def reject_duplicate_keys(body: bytes, model: type[msgspec.Struct]) -> None:
    """InvalidOrder naming the key when a JSON object in `body` has a key twice, at any depth.

    msgspec, like most JSON parsers, lets the last one win: `"tokenIn"` twice made an order for the second
    token. A full second parse is only needed when a duplicate is possible: when one of the model's field
    names appears more than once in the raw body, or when a backslash could spell a name in escapes
    (`"token\\u0049n"`). A duplicated unknown key needs no check here: the strict decode rejects the key.
    """
    names = _quoted_names(model)
    if names is not None and b"\\" not in body and all(body.count(name) <= 1 for name in names):
        return
    try:
        json.loads(body, object_pairs_hook=_unique_object)
    except _DuplicateKey as dup:
        raise InvalidOrder(dup.key, "given more than once; send each field once") from None
    except (ValueError, RecursionError):
        return  # not JSON: the typed decode says so
