use serde_json::Value;

use super::*;

fn doc(yaml: &str) -> Value {
    let plan = crate::compile(yaml, "t.yaml", &mut |_| unreachable!(), &|_| None)
        .unwrap_or_else(|d| panic!("{yaml}\n{d}"));
    document(&plan)
}

fn reference() -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../specs/openapi.yaml");
    let source = std::fs::read_to_string(&path).expect("specs/openapi.yaml");
    let plan = crate::compile(&source, "specs/openapi.yaml", &mut |_| unreachable!(), &|_| None)
        .expect("valid");
    document(&plan)
}

#[test]
fn the_reference_document() {
    insta::assert_snapshot!(
        "reference",
        serde_json::to_string_pretty(&reference()).expect("json")
    );
}

#[test]
fn typed_parameters_become_path_parameters_with_schemas() {
    let d = reference();
    let op = &d["paths"]["/items/{id}"]["get"];
    assert_eq!(op["operationId"], "get_item");
    assert_eq!(op["summary"], "One item");
    assert_eq!(op["parameters"][0]["name"], "id");
    assert_eq!(op["parameters"][0]["in"], "path");
    assert_eq!(op["parameters"][0]["schema"]["type"], "integer");
    assert_eq!(op["parameters"][0]["schema"]["minimum"], 0);
    assert!(op["responses"]["400"].is_object(), "{op}");
    let put = &d["paths"]["/admin/items/{id}"]["put"];
    assert_eq!(put["parameters"][0]["schema"]["format"], "uuid");
    assert!(
        put["requestBody"]["content"]["application/x-www-form-urlencoded"].is_object(),
        "{put}"
    );
    // `ANY` lists the usual methods, each with its own operation id.
    let files = d["paths"]["/files/{rest}"].as_object().expect("item");
    assert_eq!(files.len(), 5);
    assert_eq!(files["get"]["operationId"], "files_get");
}

#[test]
fn middleware_and_limits_are_documented_responses() {
    let d = reference();
    let post = &d["paths"]["/admin/items"]["post"];
    assert_eq!(post["security"], serde_json::json!([{ "bearer": [] }]));
    assert_eq!(
        d["components"]["securitySchemes"]["bearer"],
        serde_json::json!({ "type": "http", "scheme": "bearer" })
    );
    assert_eq!(
        d["components"]["securitySchemes"]["api_key"],
        serde_json::json!({ "type": "apiKey", "in": "header", "name": "x-partner-key" })
    );
    let r = &post["responses"];
    assert!(r["401"]["headers"]["WWW-Authenticate"].is_object(), "{r}");
    assert!(r["429"]["headers"]["Retry-After"].is_object(), "{r}");
    assert!(r["429"]["headers"]["RateLimit-Remaining"].is_object(), "{r}");
    assert!(
        r["413"]["description"].as_str().expect("text").contains("4096 bytes"),
        "{r}"
    );
    assert!(r["503"]["description"].as_str().expect("text").contains("10000 ms"));
    for s in ["400", "415", "422"] {
        assert_eq!(
            r[s]["content"]["application/problem+json"]["schema"]["$ref"],
            "#/components/schemas/Problem"
        );
    }
    // `handler_timeout: off`: no 503; a GET has no 413.
    let del = &d["paths"]["/partner/items/{id}"]["delete"]["responses"];
    assert!(del.get("503").is_none(), "{del}");
    assert!(d["paths"]["/items"]["get"]["responses"].get("413").is_none());
    // The query type is an object spread over the query string.
    let q = &d["paths"]["/items"]["get"]["parameters"][0];
    assert_eq!((q["in"].as_str(), q["style"].as_str()), (Some("query"), Some("form")));
}

#[test]
fn the_served_routes_are_not_in_the_document() {
    let d = reference();
    let paths = d["paths"].as_object().expect("paths");
    assert!(paths.keys().all(|p| !p.starts_with("/docs") && p != "/openapi.json"));
    assert_eq!(d["info"]["title"], "Reference API");
    assert_eq!(d["info"]["version"], "2.0.0");
}

#[test]
fn ai_routes_get_openai_shapes() {
    let d = doc("ai:\n  models: { m: { upstreams: [ { base_url: http://h/v1, model: x } ] } }\n  \
         routes:\n    POST /v1/chat/completions: { gateway: chat_completions }\n    \
         GET /v1/models: { gateway: models }\n    POST /s: { handler: s, model: m }\n");
    let chat = &d["paths"]["/v1/chat/completions"]["post"];
    assert_eq!(
        chat["requestBody"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/ChatCompletionRequest"
    );
    assert!(chat["responses"]["200"]["content"]["text/event-stream"].is_object());
    assert_eq!(
        d["components"]["schemas"]["ChatCompletionRequest"]["properties"]["model"]["enum"],
        serde_json::json!(["m"])
    );
    let models = &d["paths"]["/v1/models"]["get"]["responses"]["200"];
    assert_eq!(
        models["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/ModelList"
    );
    assert!(d["paths"]["/s"]["post"]["requestBody"].is_object());
}

#[test]
fn operation_ids_are_unique_and_types_with_one_name_do_not_clash() {
    let d = doc("routes:\n  POST /a: { handler: a::create, body: a::New }\n  \
         POST /b: { handler: b::create, body: b::New }\n");
    assert_eq!(d["paths"]["/a"]["post"]["operationId"], "create");
    assert_eq!(d["paths"]["/b"]["post"]["operationId"], "create_2");
    let schemas = d["components"]["schemas"].as_object().expect("schemas");
    assert!(schemas.contains_key("New"), "{schemas:?}");
    assert!(schemas.contains_key("crate.handlers.b.New"), "{schemas:?}");
}

#[test]
fn paths_drop_parameter_types_and_catch_all_stars() {
    assert_eq!(openapi_path("/u/{id:u64}/f/{*rest}"), "/u/{id}/f/{rest}");
    assert_eq!(openapi_path("/"), "/");
    assert_eq!(openapi_path("/a/"), "/a/");
}
