//! `/api/docs`: the API reference, a page of our own rendered from the generated OpenAPI
//! document (no script, works offline). The document's JSON is turned into a plain view:
//! operations grouped by tag, each with its parameters, body and responses, then the
//! schemas, with every type written out in words and linked to the schema it names.

use std::sync::Arc;

use axum::{response::Response, Extension};
use minijinja::context;
use serde::Serialize;
use serde_json::Value;

use super::pages::render;
use crate::http::{error::ApiError, openapi::Document};

/// A piece of a type written out: text, linked when it names a schema.
#[derive(Serialize)]
struct Part {
    text: String,
    href: Option<String>,
}

#[derive(Serialize)]
struct Field {
    name: String,
    /// Where a parameter goes (`query`, `path`), or `body` for a property.
    place: String,
    required: bool,
    ty: Vec<Part>,
    description: String,
}

#[derive(Serialize)]
struct Answer {
    status: String,
    description: String,
    media: Option<String>,
    ty: Vec<Part>,
    headers: Vec<Field>,
}

#[derive(Serialize)]
struct Operation {
    anchor: String,
    method: String,
    path: String,
    summary: String,
    description: String,
    signed_in: bool,
    parameters: Vec<Field>,
    body: Option<Vec<Part>>,
    answers: Vec<Answer>,
}

#[derive(Serialize)]
struct Tag {
    name: String,
    description: String,
    operations: Vec<Operation>,
}

#[derive(Serialize)]
struct Schema {
    name: String,
    description: String,
    ty: Vec<Part>,
    properties: Vec<Field>,
    closed: bool,
}

/// The API reference
///
/// This document as a page to read.
#[utoipa::path(get, path = "/api/docs", tag = "reference", operation_id = "reference",
    responses((status = 200, description = "The API reference, an HTML page", content_type = "text/html", body = String)))]
pub async fn page(Extension(doc): Extension<Arc<Document>>) -> Result<Response, ApiError> {
    let d = &doc.tree;
    render(
        "web/reference.html",
        context! {
            title => "API reference",
            version => text(&d["info"]["version"]),
            description => text(&d["info"]["description"]),
            tags => tags(d),
            schemas => schemas(d),
        },
    )
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

fn tags(d: &Value) -> Vec<Tag> {
    let mut tags: Vec<Tag> = d["tags"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| Tag {
            name: text(&t["name"]),
            description: text(&t["description"]),
            operations: Vec::new(),
        })
        .collect();
    for (path, item) in d["paths"].as_object().into_iter().flatten() {
        for (method, op) in item.as_object().into_iter().flatten() {
            let tag = op["tags"][0].as_str().unwrap_or("other");
            let i = match tags.iter().position(|t| t.name == tag) {
                Some(i) => i,
                None => {
                    tags.push(Tag {
                        name: tag.to_string(),
                        description: String::new(),
                        operations: Vec::new(),
                    });
                    tags.len() - 1
                }
            };
            tags[i].operations.push(operation(path, method, op));
        }
    }
    tags.retain(|t| !t.operations.is_empty());
    tags
}

fn operation(path: &str, method: &str, op: &Value) -> Operation {
    let parameters = op["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| Field {
            name: text(&p["name"]),
            place: text(&p["in"]),
            required: p["required"].as_bool().unwrap_or(false),
            ty: type_of(&p["schema"]),
            description: text(&p["description"]),
        })
        .collect();
    let body = op["requestBody"]["content"]
        .as_object()
        .and_then(|c| c.values().next())
        .map(|media| type_of(&media["schema"]));
    let answers = op["responses"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(status, r)| {
            let (media, ty) = match r["content"].as_object().and_then(|c| c.iter().next()) {
                Some((media, m)) => (Some(media.clone()), type_of(&m["schema"])),
                None => (None, Vec::new()),
            };
            let headers = r["headers"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(name, h)| Field {
                    name: name.clone(),
                    place: "header".into(),
                    required: false,
                    ty: type_of(&h["schema"]),
                    description: text(&h["description"]),
                })
                .collect();
            Answer {
                status: status.clone(),
                description: text(&r["description"]),
                media,
                ty,
                headers,
            }
        })
        .collect();
    Operation {
        anchor: text(&op["operationId"]),
        method: method.to_uppercase(),
        path: path.to_string(),
        summary: text(&op["summary"]),
        description: text(&op["description"]),
        signed_in: op["security"].is_array(),
        parameters,
        body,
        answers,
    }
}

fn schemas(d: &Value) -> Vec<Schema> {
    d["components"]["schemas"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, s)| Schema {
            name: name.clone(),
            description: text(&s["description"]),
            ty: type_of(s),
            properties: properties(s),
            closed: s["additionalProperties"] == Value::Bool(false),
        })
        .collect()
}

/// The properties of an object schema, or of the objects an `allOf` joins.
fn properties(s: &Value) -> Vec<Field> {
    if let Some(all) = s["allOf"].as_array() {
        return all.iter().flat_map(properties).collect();
    }
    let required: Vec<&str> = s["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    s["properties"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, p)| Field {
            name: name.clone(),
            place: "body".into(),
            required: required.contains(&name.as_str()),
            ty: type_of(p),
            description: text(&p["description"]),
        })
        .collect()
}

fn plain(text: impl Into<String>) -> Part {
    Part {
        text: text.into(),
        href: None,
    }
}

/// A schema written out in words: `array of Vhost`, `string or null (date-time)`.
fn type_of(s: &Value) -> Vec<Part> {
    if let Some(r) = s["$ref"].as_str() {
        let name = r.rsplit('/').next().unwrap_or(r).to_string();
        return vec![Part {
            href: Some(format!("#schema-{name}")),
            text: name,
        }];
    }
    for (key, joint) in [("oneOf", " or "), ("anyOf", " or "), ("allOf", " and ")] {
        if let Some(list) = s[key].as_array() {
            let mut parts = Vec::new();
            for (i, each) in list.iter().enumerate() {
                if i > 0 {
                    parts.push(plain(joint));
                }
                parts.extend(type_of(each));
            }
            return parts;
        }
    }
    let names: Vec<&str> = match &s["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if names.is_empty() && s["enum"].is_null() {
        return vec![plain("any JSON value")];
    }
    let mut parts = Vec::new();
    for (i, name) in names.iter().enumerate() {
        if i > 0 {
            parts.push(plain(" or "));
        }
        if *name == "array" {
            parts.push(plain("array of "));
            parts.extend(type_of(&s["items"]));
        } else {
            parts.push(plain(*name));
        }
    }
    let notes = constraints(s);
    if !notes.is_empty() {
        parts.push(plain(format!(" ({})", notes.join("; "))));
    }
    parts
}

/// Formats, bounds, patterns and allowed values, in words.
fn constraints(s: &Value) -> Vec<String> {
    let mut notes = Vec::new();
    if let Some(f) = s["format"].as_str() {
        notes.push(f.to_string());
    }
    if let Some(values) = s["enum"].as_array() {
        let list: Vec<String> = values.iter().map(Value::to_string).collect();
        notes.push(format!("one of {}", list.join(", ")));
    }
    for (key, words) in [
        ("minimum", "at least"),
        ("maximum", "at most"),
        ("minLength", "characters at least"),
        ("maxLength", "characters at most"),
        ("pattern", "matching"),
    ] {
        if let Some(v) = s.get(key) {
            let v = v.as_str().map_or_else(|| v.to_string(), str::to_string);
            notes.push(format!("{words} {v}"));
        }
    }
    notes
}
