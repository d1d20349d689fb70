//! The sparse record of the bytes written to one block.

use std::collections::BTreeMap;

/// What the model knows of a block's bytes: disjoint ranges of expected bytes,
/// by offset in the block. Sparse, so that a large block costs nothing until
/// written, and exact, so that every byte written is checked on each free and
/// at the end.
#[derive(Debug, Default)]
pub(crate) struct Written {
    /// `offset -> bytes`; ranges never overlap nor touch (touching ones merge).
    ranges: BTreeMap<u64, Vec<u8>>,
}

impl Written {
    /// Forgets the bytes of `start..end`, keeping the parts of ranges outside it.
    pub(crate) fn forget(&mut self, start: u64, end: u64) {
        // Ranges are disjoint and sorted, so their ends are sorted too: the ones
        // that overlap `start..end` are the last ones starting before `end`.
        let overlapping: Vec<u64> = self
            .ranges
            .range(..end)
            .rev()
            .take_while(|(&at, bytes)| at + bytes.len() as u64 > start)
            .map(|(&at, _)| at)
            .collect();
        for at in overlapping {
            let bytes = self.ranges.remove(&at).expect("listed above");
            let stop = at + bytes.len() as u64;
            if stop > end {
                self.ranges
                    .insert(end, bytes[(end - at) as usize..].to_vec());
            }
            if at < start {
                let mut head = bytes;
                head.truncate((start - at) as usize);
                self.ranges.insert(at, head);
            }
        }
    }

    /// Records `bytes` written at `offset`, merging with touching ranges.
    pub(crate) fn record(&mut self, offset: u64, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let end = offset + bytes.len() as u64;
        self.forget(offset, end);
        let mut start = offset;
        let mut merged = bytes.to_vec();
        if let Some((&at, before)) = self.ranges.range_mut(..offset).next_back() {
            if at + before.len() as u64 == offset {
                before.extend_from_slice(&merged);
                merged = self.ranges.remove(&at).expect("found above");
                start = at;
            }
        }
        if let Some(after) = self.ranges.remove(&end) {
            merged.extend_from_slice(&after);
        }
        self.ranges.insert(start, merged);
    }

    /// The known ranges, as `(offset, len)`.
    pub(crate) fn spans(&self) -> Vec<(u64, u64)> {
        self.ranges
            .iter()
            .map(|(&at, bytes)| (at, bytes.len() as u64))
            .collect()
    }

    /// The first known byte of `offset..offset + actual.len()` that `actual`
    /// does not match: `(position, expected, actual)`.
    pub(crate) fn mismatch(&self, offset: u64, actual: &[u8]) -> Option<(u64, u8, u8)> {
        let end = offset + actual.len() as u64;
        let first = self
            .ranges
            .range(..=offset)
            .next_back()
            .map_or(offset, |(&at, _)| at);
        for (&at, bytes) in self.ranges.range(first..end) {
            let from = at.max(offset);
            let to = (at + bytes.len() as u64).min(end);
            for pos in from..to {
                let (want, got) = (bytes[(pos - at) as usize], actual[(pos - offset) as usize]);
                if want != got {
                    return Some((pos, want, got));
                }
            }
        }
        None
    }
}

/// The byte a write with `byte` puts at block offset `pos`: varies with the
/// position so that a block handed out at a wrong offset shows.
pub fn pattern(byte: u8, pos: u64) -> u8 {
    byte ^ (pos as u8).wrapping_mul(31) ^ (pos >> 8) as u8
}

#[cfg(test)]
mod tests {
    use super::Written;

    #[test]
    fn touching_ranges_merge_and_forget_splits() {
        let mut written = Written::default();
        written.record(10, &[1, 2, 3]);
        written.record(13, &[4, 5]);
        written.record(5, &[9, 9, 9, 9, 9]);
        assert_eq!(written.spans(), vec![(5, 10)]);
        written.forget(7, 12);
        assert_eq!(written.spans(), vec![(5, 2), (12, 3)]);
        assert_eq!(written.mismatch(12, &[3, 4, 5]), None);
        assert_eq!(written.mismatch(11, &[0, 3, 4, 6]), Some((14, 5, 6)));
        // Bytes never written (8..12 now) are not compared.
        assert_eq!(written.mismatch(8, &[7, 7, 7, 7]), None);
    }

    #[test]
    fn overwrite_inside_a_range_keeps_its_ends() {
        let mut written = Written::default();
        written.record(0, &[1; 8]);
        written.record(3, &[2, 2]);
        assert_eq!(written.spans(), vec![(0, 8)]);
        assert_eq!(written.mismatch(0, &[1, 1, 1, 2, 2, 1, 1, 1]), None);
        assert_eq!(
            written.mismatch(0, &[1, 1, 1, 1, 2, 1, 1, 1]),
            Some((3, 2, 1))
        );
    }
}
