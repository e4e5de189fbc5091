//! Field-by-field differences of JSON objects: what a changelog entry and an update's event
//! carry.

use serde_json::{Map, Value};

/// `{"old": {...}, "new": {...}}` holding only the fields that differ, or `None` if none do.
pub fn diff(old: &Value, new: &Value) -> Option<String> {
    let (Value::Object(old), Value::Object(new)) = (old, new) else {
        return None;
    };
    let (mut o, mut n) = (Map::new(), Map::new());
    for (key, new_value) in new {
        let old_value = old.get(key).unwrap_or(&Value::Null);
        if old_value != new_value {
            o.insert(key.clone(), old_value.clone());
            n.insert(key.clone(), new_value.clone());
        }
    }
    (!n.is_empty()).then(|| serde_json::json!({ "old": o, "new": n }).to_string())
}
