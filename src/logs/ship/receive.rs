//! The hub's side of shipping: a node's batch checked, its lines parsed like the local
//! tailer's (unreadable lines counted, not stored) and committed with the node's position of
//! the file in one transaction, only if the batch starts at that position.

use tokio::sync::Mutex;

use super::{Batch, Receipt, Received, MAX_LINES};
use crate::{
    db::Db,
    logs::{
        ingest::{
            batch::Intake,
            sink::{self, Chunk, Stored},
        },
        store::{files::Source, nodes, write::Origin},
    },
};

/// Why a batch was not stored.
#[derive(Debug, thiserror::Error)]
pub enum ShipError {
    #[error("{0}")]
    Invalid(String),
    #[error("a batch holds at most {MAX_LINES} lines, this one {0}")]
    TooManyLines(usize),
    /// The batch does not start where the hub's position stands (the node is ahead of the
    /// hub, or behind it): nothing was stored.
    #[error("the hub has this node's file up to byte {position}, the batch starts at byte {from}: send from byte {position}")]
    Mismatch { position: u64, from: u64 },
    #[error(transparent)]
    Store(#[from] sqlx::Error),
}

/// What the hub keeps for shipped batches: the store the log writers use, and the intake of
/// shipped lines (known domains, client addresses as this proxyhub stores them, counts).
pub struct Receiver {
    db: Db,
    /// One batch at a time: they are writes to the same tables anyway.
    intake: Mutex<Intake>,
}

impl Receiver {
    pub fn new(db: Db, intake: Intake) -> Self {
        Self {
            db,
            intake: Mutex::new(intake),
        }
    }

    /// Stores `batch` if it starts at the node's position of its file.
    pub async fn receive(&self, batch: Batch) -> Result<Receipt, ShipError> {
        let node = check(&batch)?;
        let mut text = Vec::with_capacity(batch.lines.iter().map(|l| l.len() + 1).sum());
        for line in &batch.lines {
            text.extend_from_slice(line.as_bytes());
            text.push(b'\n');
        }
        let source = Source {
            fingerprint: batch.fingerprint,
            path: batch.path,
            dev: 0,
            ino: 0,
        };
        let chunk = Chunk {
            from: batch.from,
            to: batch.to,
            lines: &text,
            skipped: batch.skipped,
        };
        let id = nodes::id(&self.db, &node).await?;
        let mut intake = self.intake.lock().await;
        match sink::commit(&self.db, &mut intake, Origin::Node(id), &source, chunk).await? {
            Stored::Yes { rows, skipped } => Ok(Receipt {
                result: Received::Stored,
                position: batch.to,
                stored: rows,
                skipped,
            }),
            Stored::Moved(position) if position >= batch.to => Ok(Receipt {
                result: Received::Duplicate,
                position,
                stored: 0,
                skipped: 0,
            }),
            Stored::Moved(position) => Err(ShipError::Mismatch {
                position,
                from: batch.from,
            }),
        }
    }
}

/// The node's name as stored, when every field of `batch` is well formed.
fn check(batch: &Batch) -> Result<String, ShipError> {
    let node = nodes::node_name(&batch.node).map_err(|e| ShipError::Invalid(e.to_string()))?;
    let invalid = |m: &str| Err(ShipError::Invalid(m.to_string()));
    if batch.fingerprint.len() != 64
        || !batch
            .fingerprint
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return invalid(
            "fingerprint must be 64 lower-case hex digits (the SHA-256 of the file's first line)",
        );
    }
    if batch.path.is_empty() || batch.path.len() > 4096 || batch.path.chars().any(char::is_control)
    {
        return invalid("path must be 1 to 4096 characters without control characters");
    }
    if batch.lines.len() > MAX_LINES {
        return Err(ShipError::TooManyLines(batch.lines.len()));
    }
    if batch.lines.iter().any(|l| l.contains('\n')) {
        return invalid("a line must not contain a line end");
    }
    // Every line takes its bytes and a line end; skipped lines at least a byte each.
    let least = batch.lines.len() as u64 + batch.skipped;
    if batch.to <= batch.from || batch.to - batch.from < least || batch.to > i64::MAX as u64 {
        return invalid("from and to must be the byte range of the lines: from < to, and at least a byte a line");
    }
    Ok(node)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch() -> Batch {
        Batch {
            node: "Edge-1".into(),
            fingerprint: "a".repeat(64),
            path: "/var/log/caddy/access.log".into(),
            from: 0,
            to: 4,
            skipped: 0,
            lines: vec!["{}".into(), "x".into()],
        }
    }

    #[test]
    fn a_well_formed_batch_passes_and_its_node_is_kept_in_lower_case() {
        assert_eq!(check(&batch()).unwrap(), "edge-1");
    }

    #[test]
    fn malformed_batches_are_refused_with_the_field_named() {
        let cases: Vec<(Batch, &str)> = vec![
            (
                Batch {
                    node: "edge 1".into(),
                    ..batch()
                },
                "node name",
            ),
            (
                Batch {
                    fingerprint: "A".repeat(64),
                    ..batch()
                },
                "fingerprint",
            ),
            (
                Batch {
                    path: "".into(),
                    ..batch()
                },
                "path",
            ),
            (
                Batch {
                    path: "/a\n/b".into(),
                    ..batch()
                },
                "path",
            ),
            (
                Batch {
                    lines: vec!["a\nb".into()],
                    ..batch()
                },
                "line end",
            ),
            (
                Batch {
                    from: 4,
                    to: 4,
                    ..batch()
                },
                "from < to",
            ),
            (Batch { to: 1, ..batch() }, "a byte a line"),
        ];
        for (b, said) in cases {
            let e = check(&b).unwrap_err().to_string();
            assert!(e.contains(said), "{e}");
        }
        let many = Batch {
            lines: vec![String::new(); MAX_LINES + 1],
            to: 1 << 20,
            ..batch()
        };
        assert!(matches!(check(&many), Err(ShipError::TooManyLines(_))));
    }
}
