"""OpenAPI descriptions of the FHIR routes' bodies and query parameters. The handlers read raw
bodies (so that bad JSON becomes an OperationOutcome), hence Litestar cannot infer them; these
tell clients, and the schemathesis run of the test suite, what each route takes."""

from __future__ import annotations

from dataclasses import dataclass

from litestar.openapi.spec import OpenAPIMediaType, Operation, Parameter, RequestBody, Schema
from litestar.openapi.spec.enums import OpenAPIType

_STRING = Schema(type=OpenAPIType.STRING)
PARAMETERS_SCHEMA = Schema(
    type=OpenAPIType.OBJECT,
    required=["resourceType"],
    properties={
        "resourceType": Schema(type=OpenAPIType.STRING, enum=["Parameters"]),
        "parameter": Schema(
            type=OpenAPIType.ARRAY,
            items=Schema(
                type=OpenAPIType.OBJECT,
                required=["name"],
                properties={
                    "name": _STRING,
                    "valueCode": _STRING,
                    "valueDateTime": _STRING,
                    "valueString": _STRING,
                    "resource": Schema(type=OpenAPIType.OBJECT),
                },
            ),
        ),
    },
)
SEARCH_FIELDS = ("identifier", "family", "given", "birthdate", "gender", "birthplace")
SEARCH_SCHEMA = Schema(type=OpenAPIType.OBJECT, properties={name: _STRING for name in SEARCH_FIELDS})


def _fhir_body(required: bool) -> RequestBody:
    media = OpenAPIMediaType(schema=PARAMETERS_SCHEMA)
    return RequestBody(content={"application/fhir+json": media, "application/json": media}, required=required)


@dataclass
class OpenOperation(Operation):
    def __post_init__(self) -> None:
        self.request_body = _fhir_body(required=True)


@dataclass
class LifecycleOperation(Operation):
    def __post_init__(self) -> None:
        self.request_body = _fhir_body(required=False)


@dataclass
class SearchByPostOperation(Operation):
    def __post_init__(self) -> None:
        self.request_body = RequestBody(
            content={"application/x-www-form-urlencoded": OpenAPIMediaType(schema=SEARCH_SCHEMA)}, required=True
        )


@dataclass
class SearchOperation(Operation):
    def __post_init__(self) -> None:
        self.parameters = [
            *(self.parameters or []),
            *(Parameter(name=name, param_in="query", schema=_STRING) for name in SEARCH_FIELDS),
        ]


@dataclass
class CompartmentSearchOperation(Operation):
    def __post_init__(self) -> None:
        self.parameters = [
            *(self.parameters or []),
            *(Parameter(name=name, param_in="query", schema=_STRING) for name in ("patient", "subject")),
        ]


_RESOURCE_SCHEMA = Schema(
    type=OpenAPIType.OBJECT,
    required=["resourceType"],
    properties={"resourceType": Schema(type=OpenAPIType.STRING, enum=["DocumentReference", "Bundle"])},
)
DOCUMENT_SEARCH_FIELDS = (
    "patient",
    "patient.identifier",
    "type",
    "category",
    "date",
    "period",
    "status",
    "author",
    "_count",
    "_sort",
    "_page",
)


@dataclass
class ResourceBodyOperation(Operation):
    def __post_init__(self) -> None:
        media = OpenAPIMediaType(schema=_RESOURCE_SCHEMA)
        self.request_body = RequestBody(content={"application/fhir+json": media}, required=True)


@dataclass
class JsonPatchOperation(Operation):
    def __post_init__(self) -> None:
        patch = Schema(
            type=OpenAPIType.ARRAY,
            items=Schema(
                type=OpenAPIType.OBJECT,
                required=["op", "path"],
                properties={
                    "op": Schema(type=OpenAPIType.STRING, enum=["add", "remove", "replace", "test"]),
                    "path": _STRING,
                    "value": Schema(type=OpenAPIType.OBJECT),
                },
            ),
        )
        self.request_body = RequestBody(
            content={"application/json-patch+json": OpenAPIMediaType(schema=patch)}, required=True
        )


@dataclass
class DocumentSearchOperation(Operation):
    def __post_init__(self) -> None:
        self.parameters = [
            *(self.parameters or []),
            *(Parameter(name=name, param_in="query", schema=_STRING) for name in DOCUMENT_SEARCH_FIELDS),
        ]


@dataclass
class DocumentSearchByPostOperation(Operation):
    def __post_init__(self) -> None:
        schema = Schema(type=OpenAPIType.OBJECT, properties={name: _STRING for name in DOCUMENT_SEARCH_FIELDS})
        self.request_body = RequestBody(
            content={"application/x-www-form-urlencoded": OpenAPIMediaType(schema=schema)}, required=True
        )


AUDIT_SEARCH_FIELDS = ("patient", "patient.identifier", "date", "agent", "agent.identifier", "_count", "_sort", "_page")


@dataclass
class AuditSearchOperation(Operation):
    def __post_init__(self) -> None:
        self.parameters = [
            *(self.parameters or []),
            *(Parameter(name=name, param_in="query", schema=_STRING) for name in AUDIT_SEARCH_FIELDS),
        ]


@dataclass
class AuditSearchByPostOperation(Operation):
    def __post_init__(self) -> None:
        schema = Schema(type=OpenAPIType.OBJECT, properties={name: _STRING for name in AUDIT_SEARCH_FIELDS})
        self.request_body = RequestBody(
            content={"application/x-www-form-urlencoded": OpenAPIMediaType(schema=schema)}, required=True
        )


_CONSENT_SCHEMA = Schema(
    type=OpenAPIType.OBJECT,
    required=["resourceType"],
    properties={"resourceType": Schema(type=OpenAPIType.STRING, enum=["Consent"])},
)
CONSENT_SEARCH_FIELDS = ("patient", "patient.identifier", "status", "category")


@dataclass
class ConsentBodyOperation(Operation):
    def __post_init__(self) -> None:
        media = OpenAPIMediaType(schema=_CONSENT_SCHEMA)
        self.request_body = RequestBody(content={"application/fhir+json": media}, required=True)


@dataclass
class ConsentSearchOperation(Operation):
    def __post_init__(self) -> None:
        self.parameters = [
            *(self.parameters or []),
            *(Parameter(name=name, param_in="query", schema=_STRING) for name in CONSENT_SEARCH_FIELDS),
        ]
