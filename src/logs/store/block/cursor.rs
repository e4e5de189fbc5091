//! Reading one column of a block only as far as a query needs it: most opened blocks show
//! their first rows only.

use super::{reader::Reader, Corrupt};

/// An integer column of a block (timestamps or statuses), decoded as far as it is read: a
/// query opening a block often needs its first rows only.
#[derive(Default)]
pub struct IntCursor<D> {
    data: D,
    rows: usize,
    /// Timestamps are stored as the first value then differences to the previous (older) row.
    deltas: bool,
    /// Byte offset of the first row not decoded yet.
    at: usize,
    values: Vec<i64>,
}

impl<D: AsRef<[u8]>> IntCursor<D> {
    /// A timestamp column of `rows` rows.
    pub fn timestamps(data: D, rows: usize) -> Self {
        Self::new(data, rows, true)
    }

    /// A column of `rows` plain integers.
    pub fn ints(data: D, rows: usize) -> Self {
        Self::new(data, rows, false)
    }

    fn new(data: D, rows: usize, deltas: bool) -> Self {
        IntCursor {
            data,
            rows,
            deltas,
            at: 0,
            values: Vec::new(),
        }
    }

    /// Row `i`'s value (0 is the newest), decoding the rows up to it.
    pub fn get(&mut self, i: usize) -> Result<i64, Corrupt> {
        if let Some(&v) = self.values.get(i) {
            return Ok(v);
        }
        if i >= self.rows {
            return Err(Corrupt("row out of range"));
        }
        let data = self.data.as_ref();
        let mut r = Reader(&data[self.at..]);
        // Each value takes a byte at least: a damaged row count cannot make this allocate more.
        self.values
            .reserve((i + 1 - self.values.len()).min(r.0.len()));
        while self.values.len() <= i {
            let v = match (self.deltas, self.values.last()) {
                (true, Some(&newer)) => newer.wrapping_sub(r.u()? as i64),
                _ => r.i()?,
            };
            self.values.push(v);
            self.at = data.len() - r.0.len();
        }
        Ok(self.values[i])
    }

    /// Every row's value.
    pub fn all(mut self) -> Result<Vec<i64>, Corrupt> {
        if self.rows > 0 {
            self.get(self.rows - 1)?;
        }
        Ok(self.values)
    }
}

/// A block's path column, decoded row by row as far as it is read.
pub struct PathCursor {
    data: Vec<u8>,
    rows: usize,
    /// Byte offset of row `row`'s path.
    at: usize,
    row: usize,
}

impl PathCursor {
    pub fn new(data: Vec<u8>, rows: usize) -> Self {
        PathCursor {
            data,
            rows,
            at: 0,
            row: 0,
        }
    }

    /// The path of row `i`; rows are read in order (`i` never goes back).
    pub fn get(&mut self, i: usize) -> Result<&str, Corrupt> {
        if i < self.row || i >= self.rows {
            return Err(Corrupt("path row out of order"));
        }
        let mut r = Reader(&self.data[self.at..]);
        while self.row < i {
            r.skip_str()?;
            self.row += 1;
        }
        self.at = self.data.len() - r.0.len();
        let mut peek = Reader(&self.data[self.at..]);
        peek.str()
    }
}
