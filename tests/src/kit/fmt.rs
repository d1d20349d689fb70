//! Byte counts as text.

use std::fmt;

/// A byte count for people: `512 B`, `64.0 KiB`, `312 MiB`, `7.63 GiB`: three
/// significant digits (all of them from 100 up), in the largest binary unit
/// that leaves at least 1 (up to TiB). Width and alignment flags pad the
/// whole text, so `{:>10}` lines up columns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bytes(pub u64);

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
        if self.0 < 1024 {
            return f.pad(&format!("{} B", self.0));
        }
        let mut value = self.0 as f64 / 1024.0;
        let mut unit = 0;
        while value >= 1024.0 && unit + 1 < UNITS.len() {
            value /= 1024.0;
            unit += 1;
        }
        let unit = UNITS[unit];
        let text = if value >= 100.0 {
            format!("{value:.0} {unit}")
        } else if value >= 10.0 {
            format!("{value:.1} {unit}")
        } else {
            format!("{value:.2} {unit}")
        };
        f.pad(&text)
    }
}

/// `bytes` in MiB, for columns printed with a fixed number of decimals.
pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1u64 << 20) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_for_people() {
        let cases = [
            (0, "0 B"),
            (1023, "1023 B"),
            (1024, "1.00 KiB"),
            (64 << 10, "64.0 KiB"),
            (1536 << 10, "1.50 MiB"),
            (312 << 20, "312 MiB"),
            ((7 << 30) + (650 << 20), "7.63 GiB"),
            (1 << 40, "1.00 TiB"),
            (5000 << 40, "5000 TiB"),
        ];
        for (bytes, text) in cases {
            assert_eq!(Bytes(bytes).to_string(), text, "{bytes} bytes");
        }
        assert_eq!(format!("[{:>9}]", Bytes(64 << 10)), "[ 64.0 KiB]");
        assert_eq!(format!("[{:<6}]", Bytes(5)), "[5 B   ]");
    }

    #[test]
    fn mebibytes() {
        assert_eq!(mib(0), 0.0);
        assert_eq!(mib(1 << 20), 1.0);
        assert_eq!(mib(3 << 19), 1.5);
        assert_eq!(format!("{:.1}", mib(202_311_391)), "192.9");
    }
}
