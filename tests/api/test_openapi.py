"""The OpenAPI document is valid and documents every call; the docs page needs a login."""

from openapi_spec_validator import validate


def test_the_openapi_document_is_valid(api):
    response = api.get("/api/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    validate(schema)
    assert "/api/stories/{key}/generate" in schema["paths"]
    assert "/api/jobs/{job_id}" in schema["paths"]
    assert "text/event-stream" in schema["paths"]["/api/jobs/{job_id}/events"]["get"]["responses"]["200"]["content"]
    assert "/api/jobs/events" in schema["paths"]
    assert {"TokenAuth", "SessionAuth"} <= set(schema["components"]["securitySchemes"])


def test_the_generation_options_show_their_limits_and_defaults(client_logged_in):
    schemas = client_logged_in.get("/api/openapi.json").json()["components"]["schemas"]
    options = schemas["GenerationOptions"]["properties"]
    assert (options["test_cases"]["default"], options["test_cases"]["minimum"], options["test_cases"]["maximum"]) == (
        5,
        1,
        10,
    )
    assert options["scenarios_per_test"]["default"] == 3


def test_the_docs_page_is_served_without_a_cdn(client_logged_in):
    html = client_logged_in.get("/api/docs").content.decode()
    assert "/static/ninja/swagger-ui-bundle.js" in html
    assert "cdn" not in html.lower()


def test_anonymous_visitors_of_the_docs_are_sent_to_login_and_the_schema_is_401(client, db):
    response = client.get("/api/docs")
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    assert client.get("/api/openapi.json").status_code == 401
