"""Machine clients: the REST API, its OpenAPI document, and FHIR."""
