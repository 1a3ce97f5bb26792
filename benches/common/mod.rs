//! What the benches that report ratios share: the copy they are taken against, and a median.

use platerestore::image::ImageBuf;
use platerestore::ops::{pixel::map_rows_into, NeverAbort};

/// A copy of the frame through the in-place row driver with an identity op (two threads, no
/// row buffers): the memory-bound floor a per-pixel op is compared with.
pub fn copy(src: &ImageBuf, dst: &mut ImageBuf) {
    let win = src.bounds();
    map_rows_into(
        &src.view(),
        &dst.view_mut(),
        win,
        &NeverAbort,
        |_, _, s, d| d.copy_from_slice(s),
    )
    .unwrap()
}

pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}
