//! The fixed schemas of the document: path-parameter types, `application/problem+json`,
//! and the OpenAI-compatible chat and model shapes of AI routes.

use serde_json::{Value, json};

use crate::path::ParamType;

/// The schema of a typed path parameter.
pub(super) fn param_schema(ty: ParamType) -> Value {
    let int = |min: i128, max: i128, format: &str| json!({ "type": "integer", "format": format, "minimum": min, "maximum": max });
    match ty {
        ParamType::Str => json!({ "type": "string" }),
        ParamType::U8 => int(0, u8::MAX.into(), "uint8"),
        ParamType::U16 => int(0, u16::MAX.into(), "uint16"),
        ParamType::U32 => int(0, u32::MAX.into(), "uint32"),
        ParamType::U64 | ParamType::Usize => int(0, u64::MAX.into(), "uint64"),
        ParamType::I8 => int(i8::MIN.into(), i8::MAX.into(), "int8"),
        ParamType::I16 => int(i16::MIN.into(), i16::MAX.into(), "int16"),
        ParamType::I32 => int(i32::MIN.into(), i32::MAX.into(), "int32"),
        ParamType::I64 => int(i64::MIN.into(), i64::MAX.into(), "int64"),
        ParamType::Uuid => json!({ "type": "string", "format": "uuid" }),
    }
}

/// RFC 9457 problem details, as typed input answers them.
pub(super) fn problem() -> Value {
    json!({
        "type": "object",
        "description": "RFC 9457 problem details.",
        "properties": {
            "type": { "type": "string" },
            "title": { "type": "string" },
            "status": { "type": "integer" },
            "detail": { "type": "string" },
            "errors": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "pointer": { "type": "string", "description": "JSON pointer into the body" },
                        "parameter": { "type": "string", "description": "the query parameter" },
                        "detail": { "type": "string" }
                    }
                }
            }
        },
        "required": ["type", "title", "status"]
    })
}

/// OpenAI's error envelope, as AI routes answer errors.
pub(super) fn ai_error() -> Value {
    json!({
        "type": "object",
        "properties": {
            "error": {
                "type": "object",
                "properties": {
                    "message": { "type": "string" },
                    "type": { "type": "string" },
                    "param": { "type": ["string", "null"] },
                    "code": { "type": ["string", "null"] }
                },
                "required": ["message", "type"]
            }
        },
        "required": ["error"]
    })
}

/// A chat completion request (the fields Ember reads; others are passed on).
pub(super) fn chat_request(models: &[&str]) -> Value {
    let mut model = json!({ "type": "string", "description": "the model to use" });
    if !models.is_empty() {
        model["enum"] = json!(models);
    }
    json!({
        "type": "object",
        "description": "An OpenAI-compatible chat completion request; fields not listed are passed to the upstream as they are.",
        "properties": {
            "model": model,
            "messages": {
                "type": "array",
                "items": { "$ref": "#/components/schemas/ChatMessage" }
            },
            "stream": { "type": "boolean", "default": false },
            "stream_options": {
                "type": "object",
                "properties": { "include_usage": { "type": "boolean" } }
            },
            "max_tokens": { "type": "integer", "minimum": 0 },
            "max_completion_tokens": { "type": "integer", "minimum": 0 },
            "temperature": { "type": "number", "minimum": 0, "maximum": 2 },
            "top_p": { "type": "number" },
            "stop": { "oneOf": [ { "type": "string" }, { "type": "array", "items": { "type": "string" } } ] },
            "user": { "type": "string" }
        },
        "required": ["messages"],
        "additionalProperties": true
    })
}

/// One chat message.
pub(super) fn chat_message() -> Value {
    json!({
        "type": "object",
        "properties": {
            "role": { "type": "string", "enum": ["system", "developer", "user", "assistant", "tool"] },
            "content": {
                "oneOf": [
                    { "type": "string" },
                    { "type": "null" },
                    { "type": "array", "items": { "type": "object" } }
                ]
            },
            "name": { "type": "string" }
        },
        "required": ["role"],
        "additionalProperties": true
    })
}

/// A chat completion (`stream: false`).
pub(super) fn chat_completion() -> Value {
    json!({
        "type": "object",
        "properties": {
            "id": { "type": "string" },
            "object": { "type": "string", "const": "chat.completion" },
            "created": { "type": "integer" },
            "model": { "type": "string" },
            "choices": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "index": { "type": "integer" },
                        "message": { "$ref": "#/components/schemas/ChatMessage" },
                        "finish_reason": { "type": ["string", "null"] }
                    }
                }
            },
            "usage": { "$ref": "#/components/schemas/Usage" }
        },
        "required": ["id", "object", "choices"]
    })
}

/// Token usage.
pub(super) fn usage() -> Value {
    json!({
        "type": "object",
        "properties": {
            "prompt_tokens": { "type": "integer" },
            "completion_tokens": { "type": "integer" },
            "total_tokens": { "type": "integer" }
        }
    })
}

/// The model list of `gateway: models`.
pub(super) fn model_list(models: &[&str]) -> Value {
    let mut id = json!({ "type": "string" });
    if !models.is_empty() {
        id["enum"] = json!(models);
    }
    json!({
        "type": "object",
        "properties": {
            "object": { "type": "string", "const": "list" },
            "data": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "id": id,
                        "object": { "type": "string", "const": "model" },
                        "created": { "type": "integer" },
                        "owned_by": { "type": "string" }
                    },
                    "required": ["id", "object"]
                }
            }
        },
        "required": ["object", "data"]
    })
}
