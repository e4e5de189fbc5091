//! The filters of a query, validated.

/// Validated filters.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Filter {
    pub domain: Option<String>,
    pub status: Option<i64>,
    /// A status class: 5 for 5xx.
    pub status_class: Option<i64>,
    /// Epoch microseconds, inclusive.
    pub from_us: Option<i64>,
    /// Epoch microseconds, inclusive.
    pub to_us: Option<i64>,
    pub method: Option<String>,
    /// Case-insensitive (ASCII) substring of the path.
    pub q: Option<String>,
}

impl Filter {
    /// No filter at all: every stored request matches.
    pub fn is_empty(&self) -> bool {
        *self == Filter::default()
    }
}
