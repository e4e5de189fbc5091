//! `GET /api/logs` as SQL, built only from fixed fragments with every value bound.
//!
//! Each answer does bounded work however big the store: `domain`, `status`, `from` and `to`
//! select a range of an index in newest-first order; `method` and `q` are applied to the
//! [`WINDOW`] newest requests of that range; totals are counted within the same window
//! (exact below it); pages reach back [`WINDOW`] requests.

/// How many requests one answer looks at, at most.
pub const WINDOW: i64 = 10_000;

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
    /// Case-insensitive substring of the path.
    pub q: Option<String>,
}

impl Filter {
    pub fn is_empty(&self) -> bool {
        *self == Filter::default()
    }
    fn has_residual(&self) -> bool {
        self.method.is_some() || self.q.is_some() || self.status_class.is_some()
    }
}

/// A value bound to a placeholder.
#[derive(Debug, Clone, PartialEq)]
pub enum Bind {
    Int(i64),
    Text(String),
}

/// SQL text with its placeholders' values in order.
#[derive(Debug, Default)]
pub struct Sql {
    pub text: String,
    pub binds: Vec<Bind>,
}

impl Sql {
    fn push(&mut self, fragment: &str, value: Bind) {
        self.binds.push(value);
        self.text
            .push_str(&fragment.replace('?', &format!("${}", self.binds.len())));
    }
}

const COLUMNS: &str =
    "id, ts, domain_id, method, path, status, latency_us, ip, size, protocol, user_agent";
/// What the residual filters of a window need: all in the domain index, so a domain's window
/// is read from the index alone.
const WINDOWED: &str = "id, ts, method, status, path";
/// What a page answers, in this order.
const OUTPUT: &str = "SELECT p.ts, d.name AS domain, p.method, p.path, p.status, p.latency_us, \
     p.ip, p.size, p.protocol, p.user_agent FROM (";

/// One page, newest first. With `method`/`q`/status class, the window and its filter read
/// only the (domain, ts, method, status, path) index, not the table: the page's rows are
/// fetched by id afterwards.
pub fn page(f: &Filter, limit: i64, offset: i64, sqlite: bool) -> Sql {
    let mut sql = Sql {
        text: OUTPUT.into(),
        binds: Vec::new(),
    };
    if f.has_residual() {
        sql.text += &format!(
            "SELECT {COLUMNS} FROM access_logs WHERE id IN (SELECT id FROM (SELECT {WINDOWED} FROM access_logs"
        );
        indexed(&mut sql, f);
        sql.push(" ORDER BY ts DESC, id DESC LIMIT ?) w", Bind::Int(WINDOW));
        residual(&mut sql, f, " WHERE ", sqlite);
        sql.push(" ORDER BY ts DESC, id DESC LIMIT ?", Bind::Int(limit));
        sql.push(" OFFSET ?)", Bind::Int(offset));
    } else {
        sql.text += &format!("SELECT {COLUMNS} FROM access_logs");
        indexed(&mut sql, f);
        sql.push(" ORDER BY ts DESC, id DESC LIMIT ?", Bind::Int(limit));
        sql.push(" OFFSET ?", Bind::Int(offset));
    }
    sql.text += ") p JOIN access_log_domains d ON d.id = p.domain_id ORDER BY p.ts DESC, p.id DESC";
    sql
}

/// `(candidates, matches)` within the window: `candidates < WINDOW` means it was all seen.
pub fn count(f: &Filter, sqlite: bool) -> Sql {
    let mut sql = Sql::default();
    if f.has_residual() {
        sql.text = "SELECT COUNT(*) AS c, COALESCE(SUM(CASE WHEN ".into();
        residual(&mut sql, f, "", sqlite);
        sql.text +=
            " THEN 1 ELSE 0 END), 0) AS m FROM (SELECT method, path, status FROM access_logs";
        indexed(&mut sql, f);
        sql.push(" ORDER BY ts DESC, id DESC LIMIT ?) w", Bind::Int(WINDOW));
    } else {
        sql.text =
            "SELECT COUNT(*) AS c, COUNT(*) AS m FROM (SELECT 1 AS one FROM access_logs".into();
        indexed(&mut sql, f);
        sql.push(" LIMIT ?) w", Bind::Int(WINDOW));
    }
    sql
}

fn indexed(sql: &mut Sql, f: &Filter) {
    let mut and = " WHERE ";
    let mut add = |sql: &mut Sql, fragment: &str, v: Bind| {
        sql.text += and;
        sql.push(fragment, v);
        and = " AND ";
    };
    if let Some(d) = &f.domain {
        add(
            sql,
            "domain_id = (SELECT id FROM access_log_domains WHERE name = ?)",
            Bind::Text(d.clone()),
        );
    }
    if let Some(s) = f.status {
        add(sql, "status = ?", Bind::Int(s));
    }
    if let Some(t) = f.from_us {
        add(sql, "ts >= ?", Bind::Int(t));
    }
    if let Some(t) = f.to_us {
        add(sql, "ts <= ?", Bind::Int(t));
    }
}

fn residual(sql: &mut Sql, f: &Filter, lead: &str, sqlite: bool) {
    sql.text += lead;
    let mut and = "";
    if let Some(c) = f.status_class {
        sql.push("status >= ?", Bind::Int(c * 100));
        sql.push(" AND status < ?", Bind::Int(c * 100 + 100));
        and = " AND ";
    }
    if let Some(m) = &f.method {
        sql.text += and;
        sql.push("method = ?", Bind::Text(m.clone()));
        and = " AND ";
    }
    if let Some(q) = &f.q {
        sql.text += and;
        // SQLite's LIKE ignores ASCII case; PostgreSQL's ILIKE is the same.
        let like = if sqlite {
            "path LIKE ? ESCAPE '\\'"
        } else {
            "path ILIKE ? ESCAPE '\\'"
        };
        sql.push(like, Bind::Text(like_pattern(q)));
    }
}

/// `%q%` with LIKE's wildcards in `q` taken literally.
fn like_pattern(q: &str) -> String {
    let mut p = String::with_capacity(q.len() + 2);
    p.push('%');
    for c in q.chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_bound_never_pasted() {
        let f = Filter {
            domain: Some("a.com' OR 1=1 --".into()),
            status: Some(500),
            q: Some("50%_off".into()),
            ..Filter::default()
        };
        let sql = page(&f, 50, 100, true);
        assert!(
            !sql.text.contains("a.com") && !sql.text.contains("50%"),
            "{}",
            sql.text
        );
        assert_eq!(
            sql.text,
            "SELECT p.ts, d.name AS domain, p.method, p.path, p.status, p.latency_us, p.ip, p.size, \
             p.protocol, p.user_agent FROM (SELECT id, ts, domain_id, method, path, status, \
             latency_us, ip, size, protocol, user_agent FROM access_logs WHERE id IN (SELECT id \
             FROM (SELECT id, ts, method, status, path FROM access_logs WHERE domain_id = \
             (SELECT id FROM access_log_domains WHERE name = $1) AND status = $2 ORDER BY ts \
             DESC, id DESC LIMIT $3) w WHERE path LIKE $4 ESCAPE '\\' ORDER BY ts DESC, id DESC \
             LIMIT $5 OFFSET $6)) p JOIN access_log_domains d ON d.id = p.domain_id ORDER BY p.ts \
             DESC, p.id DESC"
        );
        assert_eq!(sql.binds[0], Bind::Text("a.com' OR 1=1 --".into()));
        assert_eq!(sql.binds[3], Bind::Text("%50\\%\\_off%".into()));
        assert_eq!(sql.binds[4..], [Bind::Int(50), Bind::Int(100)]);
    }

    #[test]
    fn index_only_filters_read_the_index_range_directly() {
        let f = Filter {
            status: Some(404),
            from_us: Some(1),
            to_us: Some(2),
            ..Filter::default()
        };
        let sql = page(&f, 10, 0, false);
        assert!(
            sql.text.contains(
                "user_agent FROM access_logs WHERE status = $1 AND ts >= $2 AND ts <= $3 ORDER BY"
            ),
            "{}",
            sql.text
        );
        let c = count(&f, false);
        assert!(
            c.text
                .ends_with("WHERE status = $1 AND ts >= $2 AND ts <= $3 LIMIT $4) w"),
            "{}",
            c.text
        );
    }

    #[test]
    fn a_status_class_is_a_range_within_the_window() {
        let f = Filter {
            status_class: Some(5),
            ..Filter::default()
        };
        let sql = page(&f, 50, 0, true);
        assert!(
            sql.text
                .contains(") w WHERE status >= $2 AND status < $3 ORDER BY"),
            "{}",
            sql.text
        );
        assert_eq!(sql.binds[1..3], [Bind::Int(500), Bind::Int(600)]);
    }

    #[test]
    fn counts_apply_method_and_q_within_the_window() {
        let f = Filter {
            method: Some("POST".into()),
            q: Some("/login".into()),
            ..Filter::default()
        };
        let c = count(&f, false);
        assert_eq!(
            c.text,
            "SELECT COUNT(*) AS c, COALESCE(SUM(CASE WHEN method = $1 AND path ILIKE $2 ESCAPE '\\' \
             THEN 1 ELSE 0 END), 0) AS m FROM (SELECT method, path, status FROM access_logs \
             ORDER BY ts DESC, id DESC LIMIT $3) w"
        );
    }
}
