//! List queries: a page of rows, and `WHERE` clauses whose values are bound, never pasted.

/// One page of a list: `limit` rows (all when `None`) after `offset`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Page {
    pub limit: Option<i64>,
    pub offset: i64,
}

impl Page {
    /// ` LIMIT n OFFSET m` (numbers the caller checked, never text).
    pub fn sql(&self) -> String {
        match self.limit {
            Some(l) => format!("LIMIT {l} OFFSET {}", self.offset),
            None if self.offset > 0 => format!("LIMIT {} OFFSET {}", i64::MAX, self.offset),
            None => String::new(),
        }
    }
}

/// A `WHERE` clause built from conditions, each value bound as `$n`, never pasted.
#[derive(Default)]
pub struct Where {
    conditions: Vec<String>,
    values: Vec<Bound>,
}

enum Bound {
    Text(String),
    Int(i64),
}

impl Where {
    /// Binds a text value; returns its placeholder.
    pub fn text(&mut self, v: String) -> String {
        self.values.push(Bound::Text(v));
        format!("${}", self.values.len())
    }
    /// Binds an integer; returns its placeholder.
    pub fn int(&mut self, v: i64) -> String {
        self.values.push(Bound::Int(v));
        format!("${}", self.values.len())
    }
    pub fn push(&mut self, condition: String) {
        self.conditions.push(condition);
    }
    /// ` WHERE a AND b`, or nothing.
    pub fn sql(&self) -> String {
        if self.conditions.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.conditions.join(" AND "))
        }
    }
    pub fn bind<'q>(
        &'q self,
        sql: &'q str,
    ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
        let mut q = sqlx::query(sql);
        for v in &self.values {
            q = match v {
                Bound::Text(t) => q.bind(t),
                Bound::Int(i) => q.bind(*i),
            };
        }
        q
    }
    pub fn bind_scalar<'q, T>(
        &'q self,
        sql: &'q str,
    ) -> sqlx::query::QueryScalar<'q, sqlx::Any, T, sqlx::any::AnyArguments<'q>>
    where
        (T,): for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow>,
    {
        let mut q = sqlx::query_scalar(sql);
        for v in &self.values {
            q = match v {
                Bound::Text(t) => q.bind(t),
                Bound::Int(i) => q.bind(*i),
            };
        }
        q
    }
}

/// A `LIKE` pattern finding `needle` anywhere, any case (`%`, `_` and `\\` taken literally;
/// use with `ESCAPE '\\'` against lowercased text).
pub fn like_pattern(needle: &str) -> String {
    let mut p = String::from("%");
    for c in needle.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}
