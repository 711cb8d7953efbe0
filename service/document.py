"""Completing the OpenAPI document FastAPI builds: the one way the app adds to it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema


def complete_document(app: FastAPI, complete: Callable[[dict[str, Any]], None]) -> None:
    """Have `app.openapi()` pass the document it builds through `complete`, once."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = build()  # kept by FastAPI as app.openapi_schema: completed in place
        complete(document)
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def component_schemas(document: dict[str, Any]) -> dict[str, Any]:
    """Return the document's `components.schemas`, creating it if missing."""
    schemas: dict[str, Any] = document.setdefault("components", {}).setdefault("schemas", {})
    return schemas


def model_schemas(model: type[BaseModel]) -> dict[str, Any]:
    """Return the JSON schemas of a model and those it refers to, as components name them."""
    _, extra = models_json_schema(
        [(model, "serialization")], ref_template="#/components/schemas/{model}"
    )
    schemas: dict[str, Any] = extra["$defs"]
    return schemas
