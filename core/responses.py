"""JSON answers built from the route's declared response model, so what a handler sends is what /openapi.json
documents (tests/core/test_openapi_fuzz.py checks every answer against the document)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, PlainSerializer, WithJsonSchema

from core.json import json_body_response


class ResponseModel(BaseModel):
    """Base of response models: a field the model does not declare is an error, never silently dropped, so a
    model built from a service's dict cannot lose part of the answer."""

    model_config = ConfigDict(extra="forbid")


# `datetime.isoformat()`: "+00:00" as the API has always sent, where pydantic would write "Z".
Timestamp = Annotated[
    datetime,
    PlainSerializer(datetime.isoformat, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]


def dump(model: BaseModel) -> dict[str, Any]:
    """The JSON form of a response model, with its field aliases (`from`, `to`) as the document names them."""
    return model.model_dump(mode="json", by_alias=True)


def json_response(model: BaseModel, *, status: int = 200) -> web.Response:
    return json_body_response(dump(model), status=status)
