#!/usr/bin/env python3
"""Validates openapi/openapi.yaml against the OpenAPI 3.1 schema (openapi-spec-validator)."""
import pathlib
import sys

from openapi_spec_validator import validate
from openapi_spec_validator.readers import read_from_filename

path = pathlib.Path(__file__).with_name("openapi.yaml")
spec, _ = read_from_filename(str(path))
try:
    validate(spec)
except Exception as error:  # the validator raises several types; all mean the same here
    print(f"{path}: invalid: {error}", file=sys.stderr)
    sys.exit(1)
print(f"{path.name}: valid OpenAPI {spec['openapi']}, {len(spec['paths'])} paths")
