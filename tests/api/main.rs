//! The API as scripts and CI use it: its OpenAPI document is valid (a real validator says
//! so), covers every route, reads as a page, and tells the truth (schemathesis, run against a
//! live proxyhub on a real Caddy, finds no server error and no answer the document does not
//! allow).

#[path = "../support/mod.rs"]
mod support;

mod openapi;
