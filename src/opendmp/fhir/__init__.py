"""The FHIR R4 edge: routes, mapping domain <-> FHIR JSON, search, OperationOutcome."""
