//! One operation of the document: a route's parameters, body, security and the answers
//! Ember gives on its behalf.

use serde_json::{Map, Value, json};

use super::{Document, schemas};
use crate::path::{ParamType, Segment};
use crate::plan::{AiRoute, BodyFormat, Gateway, MwKind, Plan, RateKeyPlan, RoutePlan};

/// The runtime's `max_body_size` when neither the route nor the server sets one.
const DEFAULT_MAX_BODY: u64 = 1 << 20;
/// The runtime's `handler_timeout` when neither the route nor the server sets one.
const DEFAULT_HANDLER_TIMEOUT_SECS: u64 = 30;

/// The operation for `method` (lowercase) of `route`.
pub(super) fn operation(doc: &mut Document, plan: &Plan, route: &RoutePlan, method: &str) -> Value {
    let mut op = Map::new();
    let base = route.name.clone().unwrap_or_else(|| {
        let handler = route.handler.rsplit("::").next().unwrap_or(&route.handler);
        handler.to_owned()
    });
    let want = if matches!(route.method, crate::plan::MethodSel::Any) {
        format!("{base}_{method}")
    } else {
        base
    };
    op.insert("operationId".into(), json!(doc.operation_id(want)));
    if let Some(s) = &route.summary {
        op.insert("summary".into(), json!(s));
    }
    op.insert(
        "x-ember-handler".into(),
        json!(match route.ai {
            Some(AiRoute::Gateway(g)) => format!("gateway: {}", g.name()),
            _ => route.handler.clone(),
        }),
    );
    op.insert(
        "x-ember-spec".into(),
        json!(format!("{}:{}", route.file, route.line)),
    );
    let mut params = path_params(route);
    let mut responses = Map::new();
    responses.insert("200".into(), json!({ "description": "OK" }));
    if route
        .segments
        .iter()
        .any(|s| matches!(s, Segment::Param { ty, .. } if *ty != ParamType::Str))
    {
        responses.insert(
            "400".into(),
            text_response("A path parameter does not parse as its type."),
        );
    }
    input(doc, route, &mut op, &mut params, &mut responses);
    ai(doc, plan, route, &mut op, &mut responses);
    middleware(doc, route, &mut op, &mut responses);
    limits(plan, route, method, &mut responses);
    if !params.is_empty() {
        op.insert("parameters".into(), Value::Array(params));
    }
    op.insert("responses".into(), Value::Object(responses));
    Value::Object(op)
}

/// A response with a plain-text body.
fn text_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": { "text/plain": { "schema": { "type": "string" } } }
    })
}

/// The route's path parameters.
fn path_params(route: &RoutePlan) -> Vec<Value> {
    route
        .segments
        .iter()
        .filter_map(|s| match s {
            Segment::Static(_) => None,
            Segment::Param { name, ty } => Some(json!({
                "name": name,
                "in": "path",
                "required": true,
                "schema": schemas::param_schema(*ty),
            })),
            Segment::CatchAll { name } => Some(json!({
                "name": name,
                "in": "path",
                "required": true,
                "description": "the rest of the path (may contain `/`)",
                "schema": { "type": "string" },
            })),
        })
        .collect()
}

/// The component name of a Rust type: its last path segment.
fn type_name(ty: &str) -> &str {
    ty.rsplit("::").next().unwrap_or(ty)
}

/// A `$ref` to the component of the Rust type `ty`; the component is a placeholder that
/// names the type (the spec does not know its fields). Two types with one last segment
/// get their full paths as names.
fn rust_type(doc: &mut Document, ty: &str, object: bool) -> Value {
    let short = type_name(ty);
    let taken_by_other = doc
        .schemas
        .get(short)
        .and_then(|s| s.get("x-rust-type"))
        .is_some_and(|t| t != ty);
    let name = if taken_by_other {
        ty.replace("::", ".")
    } else {
        short.to_owned()
    };
    // A schema the `schemas:` file gives, by full path or by name.
    let given = doc
        .given
        .get(ty)
        .or_else(|| doc.given.get(ty.trim_start_matches("crate::")))
        .or_else(|| doc.given.get(short))
        .cloned();
    if let Some(mut s) = given {
        if let Some(o) = s.as_object_mut() {
            o.insert("x-rust-type".into(), json!(ty));
        }
        return doc.schema_ref(&name, || s);
    }
    doc.schema_ref(&name, || {
        let mut s = json!({
            "title": short,
            "description": format!(
                "The Rust type `{ty}`. Its fields are defined in Rust, not in the spec."
            ),
            "x-rust-type": ty,
        });
        if object {
            s["type"] = json!("object");
        }
        s
    })
}

/// `query:` and `body:`, and the problem details typed input answers with.
fn input(
    doc: &mut Document,
    route: &RoutePlan,
    op: &mut Map<String, Value>,
    params: &mut Vec<Value>,
    responses: &mut Map<String, Value>,
) {
    let input = &route.input;
    if input.is_empty() {
        return;
    }
    let problem = |doc: &mut Document, description: &str| {
        let schema = doc.schema_ref("Problem", schemas::problem);
        json!({
            "description": description,
            "content": { "application/problem+json": { "schema": schema } }
        })
    };
    if let Some(q) = &input.query {
        // An object spread over the query string (`?a=1&b=2`): OpenAPI's form style.
        let schema = rust_type(doc, q, true);
        params.push(json!({
            "name": type_name(q),
            "in": "query",
            "style": "form",
            "explode": true,
            "schema": schema,
        }));
    }
    if let Some(b) = &input.body {
        let (mime, object) = match b.format {
            BodyFormat::Json => ("application/json", false),
            BodyFormat::Form => ("application/x-www-form-urlencoded", true),
        };
        let schema = rust_type(doc, &b.ty, object);
        op.insert(
            "requestBody".into(),
            json!({ "required": true, "content": { mime: { "schema": schema } } }),
        );
        responses.insert(
            "415".into(),
            problem(doc, &format!("The body is not `{mime}`.")),
        );
        responses.insert(
            "422".into(),
            problem(doc, "The body does not fit its type (or fails validation)."),
        );
    } else if input.validate {
        responses.insert("422".into(), problem(doc, "The query fails validation."));
    }
    responses.insert(
        "400".into(),
        problem(
            doc,
            "Malformed input (JSON syntax, query string, or a path parameter).",
        ),
    );
}

/// AI routes: OpenAI's request and answer shapes.
fn ai(
    doc: &mut Document,
    plan: &Plan,
    route: &RoutePlan,
    op: &mut Map<String, Value>,
    responses: &mut Map<String, Value>,
) {
    let Some(ai) = route.ai else {
        return;
    };
    let models: Vec<&str> = plan
        .ai
        .as_ref()
        .map(|a| a.models.iter().map(|m| m.name.as_str()).collect())
        .unwrap_or_default();
    doc.schema_ref("ChatMessage", schemas::chat_message);
    doc.schema_ref("Usage", schemas::usage);
    let error = doc.schema_ref("AiError", schemas::ai_error);
    let ai_error = |description: &str| json!({ "description": description, "content": { "application/json": { "schema": error.clone() } } });
    let chat_body = |doc: &mut Document| {
        let request = doc.schema_ref("ChatCompletionRequest", || schemas::chat_request(&models));
        json!({ "required": true, "content": { "application/json": { "schema": request } } })
    };
    let stream = json!({
        "schema": { "type": "string", "description": "`data: {chat.completion.chunk}` events, then `data: [DONE]`" }
    });
    match ai {
        AiRoute::Gateway(Gateway::Models) => {
            let list = doc.schema_ref("ModelList", || schemas::model_list(&models));
            responses.insert(
                "200".into(),
                json!({ "description": "The models clients may name.", "content": { "application/json": { "schema": list } } }),
            );
        }
        AiRoute::Gateway(Gateway::ChatCompletions) => {
            op.insert("requestBody".into(), chat_body(doc));
            let completion = doc.schema_ref("ChatCompletion", schemas::chat_completion);
            responses.insert(
                "200".into(),
                json!({
                    "description": "The completion: JSON, or server-sent events with `stream: true`.",
                    "content": {
                        "application/json": { "schema": completion },
                        "text/event-stream": stream,
                    }
                }),
            );
            responses.insert(
                "400".into(),
                ai_error("Not a chat completion request, or an unknown model."),
            );
            responses.insert("502".into(), ai_error("Every upstream failed."));
            responses.insert(
                "504".into(),
                ai_error("The upstream did not answer in time."),
            );
        }
        AiRoute::Handler { .. } => {
            op.insert("requestBody".into(), chat_body(doc));
            responses.insert(
                "200".into(),
                json!({
                    "description": "The handler's answer (often server-sent events).",
                    "content": { "text/event-stream": stream, "application/json": {} }
                }),
            );
            responses.insert("400".into(), ai_error("Not a chat completion request."));
        }
    }
}

/// `bearer`, `api_key` and `rate_limit` in the route's chain.
fn middleware(
    doc: &mut Document,
    route: &RoutePlan,
    op: &mut Map<String, Value>,
    responses: &mut Map<String, Value>,
) {
    let mut required = Map::new();
    for m in &route.middleware {
        match &m.kind {
            MwKind::Auth(a) => {
                let scheme = if a.api_key {
                    let (place, name) = match &a.header {
                        Some(h) => ("header", h.clone()),
                        None if !a.query.is_empty() => ("query", a.query.clone()),
                        None => ("header", "x-api-key".to_owned()),
                    };
                    json!({ "type": "apiKey", "in": place, "name": name })
                } else {
                    json!({ "type": "http", "scheme": "bearer" })
                };
                doc.security.insert(m.name.clone(), scheme);
                required.insert(m.name.clone(), json!([]));
                responses.insert(
                    "401".into(),
                    json!({
                        "description": "Missing or rejected credentials.",
                        "headers": { "WWW-Authenticate": { "schema": { "type": "string" } } }
                    }),
                );
            }
            MwKind::RateLimit(r) => {
                let per = match &r.key {
                    RateKeyPlan::ClientIp(_) => "client IP".to_owned(),
                    RateKeyPlan::Global => "server".to_owned(),
                    RateKeyPlan::Identity => "authenticated identity".to_owned(),
                    RateKeyPlan::Header(h) => format!("`{h}` header value"),
                };
                let int = json!({ "schema": { "type": "integer" } });
                let limit_headers = json!({
                    "RateLimit-Limit": int,
                    "RateLimit-Remaining": int,
                    "RateLimit-Reset": int,
                });
                let mut too_many = limit_headers.clone();
                too_many["Retry-After"] = json!({
                    "description": "seconds until a request may succeed",
                    "schema": { "type": "integer" }
                });
                responses.insert(
                    "429".into(),
                    json!({
                        "description": format!(
                            "Over the rate limit: {} requests per {} s (burst {}) per {per}.",
                            r.count, r.per_secs, r.burst
                        ),
                        "headers": too_many,
                    }),
                );
                if let Some(ok) = responses.get_mut("200") {
                    ok["headers"] = limit_headers;
                }
            }
            MwKind::Cors(_) | MwKind::Hook { .. } => {}
        }
    }
    if !required.is_empty() {
        op.insert("security".into(), json!([Value::Object(required)]));
    }
}

/// `max_body_size` and `handler_timeout`, the route's or else the server's.
fn limits(plan: &Plan, route: &RoutePlan, method: &str, responses: &mut Map<String, Value>) {
    let has_body = matches!(method, "post" | "put" | "patch" | "delete");
    if has_body {
        let max = route
            .limits
            .max_body_size
            .or(plan.server.limits.max_body_size)
            .unwrap_or(DEFAULT_MAX_BODY);
        responses.insert(
            "413".into(),
            json!({ "description": format!("The body is over {max} bytes (`max_body_size`).") }),
        );
    }
    let timeout = match route
        .limits
        .handler_timeout
        .or(plan.server.limits.handler_timeout)
    {
        Some(t) => t,
        None => Some(std::time::Duration::from_secs(DEFAULT_HANDLER_TIMEOUT_SECS)),
    };
    if let Some(t) = timeout {
        responses.insert(
            "503".into(),
            json!({ "description": format!(
                "The handler ran over {} ms (`handler_timeout`).",
                t.as_millis()
            ) }),
        );
    }
}
