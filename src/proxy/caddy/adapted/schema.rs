//! The vocabulary the allowlist is written in: a check per JSON position, objects checked
//! field by field (a field not listed is refused), lists item by item.

use serde_json::{Map, Value};

/// What checks need besides the value.
pub struct Cx {
    /// The admin ports of Caddy's nodes: no upstream or health check may reach one.
    pub admin_ports: Vec<u16>,
}

pub type Check = fn(&Value, &Cx) -> Result<(), String>;

pub fn object<'a>(v: &'a Value, what: &str) -> Result<&'a Map<String, Value>, String> {
    v.as_object()
        .ok_or_else(|| format!("{what} is not an object in Caddy's adaptation"))
}

pub fn array<'a>(v: &'a Value, what: &str) -> Result<&'a Vec<Value>, String> {
    v.as_array()
        .ok_or_else(|| format!("{what} is not a list in Caddy's adaptation"))
}

pub fn field<'a>(m: &'a Map<String, Value>, key: &str) -> Result<&'a Value, String> {
    m.get(key)
        .ok_or_else(|| format!("Caddy's adaptation has no {key:?}"))
}

pub fn only(
    m: &Map<String, Value>,
    keys: &[&str],
    refuse: impl Fn(&str) -> String,
) -> Result<(), String> {
    match m.keys().find(|k| !keys.contains(&k.as_str())) {
        Some(k) => Err(refuse(k)),
        None => Ok(()),
    }
}

/// Checks each listed field of an object with its check; any other field is refused.
pub fn fields(v: &Value, cx: &Cx, what: &str, allowed: &[(&str, Check)]) -> Result<(), String> {
    for (k, val) in object(v, what)? {
        match allowed.iter().find(|(name, _)| name == k) {
            Some((_, check)) => check(val, cx).map_err(|e| format!("{what}: {e}"))?,
            None => return Err(format!("{what}: the field {k:?} is not allowed")),
        }
    }
    Ok(())
}

pub fn each(v: &Value, cx: &Cx, check: Check) -> Result<(), String> {
    array(v, "a field")?
        .iter()
        .try_for_each(|item| check(item, cx))
}

pub fn string(v: &Value, _: &Cx) -> Result<(), String> {
    v.is_string()
        .then_some(())
        .ok_or_else(|| format!("{v} is not a string"))
}

pub fn integer(v: &Value, _: &Cx) -> Result<(), String> {
    (v.is_i64() || v.is_u64())
        .then_some(())
        .ok_or_else(|| format!("{v} is not an integer"))
}

pub fn boolean(v: &Value, _: &Cx) -> Result<(), String> {
    v.is_boolean()
        .then_some(())
        .ok_or_else(|| format!("{v} is not true or false"))
}

/// A status code, a duration, a size: a number, or a string (a placeholder or `5s`).
pub fn int_or_string(v: &Value, cx: &Cx) -> Result<(), String> {
    integer(v, cx).or_else(|_| string(v, cx))
}

pub fn scalar(v: &Value, _: &Cx) -> Result<(), String> {
    (v.is_string() || v.is_number() || v.is_boolean() || v.is_null())
        .then_some(())
        .ok_or_else(|| format!("{v} is not a plain value"))
}

pub fn strings(v: &Value, cx: &Cx) -> Result<(), String> {
    each(v, cx, string)
}

pub fn scalars(v: &Value, cx: &Cx) -> Result<(), String> {
    each(v, cx, scalar)
}

pub fn integers(v: &Value, cx: &Cx) -> Result<(), String> {
    each(v, cx, integer)
}

/// An object whose keys are the user's (header names, variables), each value checked.
pub fn map_of(v: &Value, cx: &Cx, check: Check) -> Result<(), String> {
    object(v, "a map")?
        .values()
        .try_for_each(|val| check(val, cx))
}

pub fn strings_or_null(v: &Value, cx: &Cx) -> Result<(), String> {
    if v.is_null() {
        Ok(())
    } else {
        strings(v, cx)
    }
}

pub fn header_values(v: &Value, cx: &Cx) -> Result<(), String> {
    map_of(v, cx, strings_or_null)
}

pub fn regexp(v: &Value, cx: &Cx) -> Result<(), String> {
    fields(v, cx, "a regexp", &[("name", string), ("pattern", string)])
}
