"""Request bodies decoded strictly by msgspec, exactly as the WebSocket submit decodes its message.

Litestar converts bodies in msgspec's lax mode, which reads `"slippageBps": "5e1"` or `5.0` as 50 and 5.
A trading API should not guess: a field of the wrong JSON type is a 400 naming the field, over HTTP as
over WebSocket. Used as the handler's `dto`, this keeps the msgspec struct as the documented schema.
"""

from __future__ import annotations

import re
from collections.abc import Generator
from typing import Any, Generic, TypeVar

import msgspec
from litestar.dto import AbstractDTO
from litestar.dto.data_structures import DTOFieldDefinition
from litestar.exceptions import ValidationException
from litestar.typing import FieldDefinition

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
