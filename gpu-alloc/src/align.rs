//! Integer helpers for offsets, sizes and alignments (`align_mask` is always
//! `2^n - 1`, as in [`Request`](crate::Request)).

#![deny(unsafe_code)]

/// Rounds `value` up to a multiple of `align_mask + 1`, or `None` on overflow.
#[inline]
pub(crate) fn align_up(value: u64, align_mask: u64) -> Option<u64> {
    Some(value.checked_add(align_mask)? & !align_mask)
}

/// Rounds `value` down to a multiple of `align_mask + 1`.
#[inline]
pub(crate) fn align_down(value: u64, align_mask: u64) -> u64 {
    value & !align_mask
}

/// Largest power of two not above `value` (`value > 0`).
#[inline]
pub(crate) fn pow2_floor(value: u64) -> u64 {
    1 << (63 - value.leading_zeros())
}

/// Whether `mask` has the form `2^n - 1`.
#[inline]
pub(crate) fn is_align_mask(mask: u64) -> bool {
    mask & mask.wrapping_add(1) == 0
}
