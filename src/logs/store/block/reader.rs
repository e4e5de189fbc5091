//! Reading the pieces the columns are made of: varints (zigzag for signed values),
//! length-prefixed strings and dictionaries, every read checked against the bytes left.

use super::Corrupt;

/// A column's bytes, consumed from the front as they are read.
pub(super) struct Reader<'a>(pub(super) &'a [u8]);

impl<'a> Reader<'a> {
    pub(super) fn byte(&mut self) -> Result<u8, Corrupt> {
        let (&b, rest) = self.0.split_first().ok_or(Corrupt("truncated"))?;
        self.0 = rest;
        Ok(b)
    }
    pub(super) fn u(&mut self) -> Result<u64, Corrupt> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err(Corrupt("varint too long"))
    }
    pub(super) fn i(&mut self) -> Result<i64, Corrupt> {
        let u = self.u()?;
        Ok(((u >> 1) as i64) ^ -((u & 1) as i64))
    }
    pub(super) fn str(&mut self) -> Result<&'a str, Corrupt> {
        let len = self.u()? as usize;
        if len > self.0.len() {
            return Err(Corrupt("truncated string"));
        }
        let (s, rest) = self.0.split_at(len);
        self.0 = rest;
        std::str::from_utf8(s).map_err(|_| Corrupt("invalid UTF-8"))
    }
    pub(super) fn skip_str(&mut self) -> Result<(), Corrupt> {
        let len = self.u()? as usize;
        if len > self.0.len() {
            return Err(Corrupt("truncated string"));
        }
        self.0 = &self.0[len..];
        Ok(())
    }
    pub(super) fn skip_ints(&mut self, k: usize) -> Result<(), Corrupt> {
        for _ in 0..k {
            self.u()?;
        }
        Ok(())
    }
    /// Skips `i` integers and reads the next.
    pub(super) fn nth_int(&mut self, i: usize) -> Result<i64, Corrupt> {
        self.skip_ints(i)?;
        self.i()
    }
    /// Row `i`'s value of a dictionary column of `n` rows; leaves the reader after it.
    pub(super) fn dict_at(&mut self, n: usize, i: usize) -> Result<&'a str, Corrupt> {
        let len = self.u()? as usize;
        if len > n.max(1) {
            return Err(Corrupt("dictionary larger than its rows"));
        }
        let mut values = Vec::with_capacity(len);
        for _ in 0..len {
            let k = self.u()? as usize;
            if k > self.0.len() {
                return Err(Corrupt("truncated string"));
            }
            let (v, rest) = self.0.split_at(k);
            values.push(v);
            self.0 = rest;
        }
        self.skip_ints(i)?;
        let code = self.u()? as usize;
        self.skip_ints(n - i - 1)?;
        let v = values
            .get(code)
            .ok_or(Corrupt("dictionary code out of range"))?;
        std::str::from_utf8(v).map_err(|_| Corrupt("invalid UTF-8"))
    }
    pub(super) fn dict(&mut self, n: usize) -> Result<(Vec<&'a str>, Vec<u32>), Corrupt> {
        let len = self.u()? as usize;
        if len > n.max(1) {
            return Err(Corrupt("dictionary larger than its rows"));
        }
        let values = (0..len)
            .map(|_| self.str())
            .collect::<Result<Vec<_>, _>>()?;
        let codes = (0..n)
            .map(|_| {
                let c = self.u()?;
                if c as usize >= values.len() {
                    return Err(Corrupt("dictionary code out of range"));
                }
                Ok(c as u32)
            })
            .collect::<Result<_, _>>()?;
        Ok((values, codes))
    }
}
