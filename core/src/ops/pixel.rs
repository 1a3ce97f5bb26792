//! The driver every per-pixel op runs on: split the render window into bands of rows, convert
//! each source row to RGBA f32, let the op transform it in place, write it to the destination.
//! Work is split by rows only, so the result cannot depend on the thread count.

use super::{Abort, OpError};
use crate::image::{ImageLayout, ImageView, ImageViewMut, Rect};
use rayon::prelude::*;

/// Rows per parallel task: big enough to amortise scheduling, small enough for abort to be
/// prompt and for two cores to share a 4K frame evenly.
const BAND_ROWS: i32 = 16;

/// Runs `f(y, x1, row)` over every row of `window` (clipped to the destination bounds), where
/// `row` holds source pixels `x1..x1 + row.len()` of row `y` (transparent black outside the
/// source) and is written back to the destination afterwards.
pub fn map_rows<F>(
    src: &ImageView<'_>,
    dst: &ImageViewMut<'_>,
    window: Rect,
    abort: &dyn Abort,
    f: F,
) -> Result<(), OpError>
where
    F: Fn(i32, i32, &mut [[f32; 4]]) + Sync,
{
    let win = window.intersect(&dst.bounds());
    if win.is_empty() {
        return Ok(());
    }
    let bands: Vec<i32> = (win.y1..win.y2).step_by(BAND_ROWS as usize).collect();
    bands.par_iter().try_for_each_init(
        || vec![[0.0f32; 4]; win.width() as usize],
        |row, &y0| {
            if abort.aborted() {
                return Err(OpError::Aborted);
            }
            for y in y0..(y0 + BAND_ROWS).min(win.y2) {
                src.read_row(y, win.x1, row);
                f(y, win.x1, row);
                dst.write_row(y, win.x1, row);
            }
            Ok(())
        },
    )
}

/// As [`map_rows`], for ops that read a source row and write a destination row:
/// `f(y, x1, src, dst)` with `src` the source pixels `x1..x1 + n` of row `y` (transparent black
/// outside the source) and `dst` to be filled with the result. Where an image already stores
/// RGBA `f32` (the usual case for a float pipeline) the op works on the image's own memory, with
/// no conversion into and out of a row buffer; otherwise through buffers, with the same values.
pub fn map_rows_into<F>(
    src: &ImageView<'_>,
    dst: &ImageViewMut<'_>,
    window: Rect,
    abort: &dyn Abort,
    f: F,
) -> Result<(), OpError>
where
    F: Fn(i32, i32, &[[f32; 4]], &mut [[f32; 4]]) + Sync,
{
    let win = window.intersect(&dst.bounds());
    if win.is_empty() {
        return Ok(());
    }
    let n = win.width() as usize;
    let dst_may_be_direct = may_write_in_place(src, dst);
    let bands: Vec<i32> = (win.y1..win.y2).step_by(BAND_ROWS as usize).collect();
    bands.par_iter().try_for_each_init(
        || (vec![[0.0f32; 4]; n], vec![[0.0f32; 4]; n]),
        |(in_buf, out_buf), &y0| {
            if abort.aborted() {
                return Err(OpError::Aborted);
            }
            for y in y0..(y0 + BAND_ROWS).min(win.y2) {
                let direct_src = src.rgba_f32_row(y, win.x1, n);
                let direct_dst = if dst_may_be_direct {
                    // SAFETY: this band's rows are handled by this thread alone and the slice
                    // is dropped before the next row; the destination's memory does not
                    // overlap the source's (checked above), so no source row aliases it.
                    unsafe { dst.rgba_f32_row_mut(y, win.x1, n) }
                } else {
                    None
                };
                let s: &[[f32; 4]] = match direct_src {
                    Some(s) => s,
                    None => {
                        src.read_row(y, win.x1, in_buf);
                        in_buf
                    }
                };
                match direct_dst {
                    Some(d) => f(y, win.x1, s, d),
                    None => {
                        f(y, win.x1, s, out_buf);
                        dst.write_row(y, win.x1, out_buf);
                    }
                }
            }
            Ok(())
        },
    )
}

/// Whether results may be computed straight into `dst`'s memory: only when it cannot be any of
/// `src`'s (a host may hand the same buffer as source and output).
pub fn may_write_in_place(src: &ImageView<'_>, dst: &ImageViewMut<'_>) -> bool {
    !overlaps(
        memory_span(src.data_ptr(), src.layout()),
        memory_span(dst.data_ptr(), dst.layout()),
    )
}

/// The addresses an image's pixels occupy, `start..end` (rows may run bottom-up).
fn memory_span(base: *const u8, layout: &ImageLayout) -> (usize, usize) {
    let b = layout.bounds;
    if b.is_empty() {
        return (0, 0);
    }
    let base = base as usize as i128;
    let last_row = (b.height() as i128 - 1) * layout.row_bytes as i128;
    let row_len = b.width() as i128 * layout.pixel_bytes() as i128;
    let start = base + last_row.min(0);
    let end = base + last_row.max(0) + row_len;
    (start.max(0) as usize, end.max(0) as usize)
}

/// Whether two address spans share any byte.
fn overlaps(a: (usize, usize), b: (usize, usize)) -> bool {
    a.0 < b.1 && b.0 < a.1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::{Components, ImageBuf, ImageView, ImageViewMut, PixelDepth};
    use crate::ops::NeverAbort;

    #[test]
    fn writes_only_inside_the_window_and_reads_black_outside_source() {
        let src = ImageBuf::from_fn(Rect::new(0, 0, 8, 8), |x, y| [x as f32, y as f32, 0.0, 1.0]);
        let mut dst = ImageBuf::new(
            Rect::new(-2, -2, 10, 10),
            PixelDepth::F32,
            Components::Rgba,
            4,
            true,
        );
        dst.fill_with(|_, _| [-1.0; 4]);
        let win = Rect::new(-1, 2, 9, 5);
        map_rows(
            &src.view(),
            &dst.view_mut(),
            win,
            &NeverAbort,
            |_, _, row| {
                for p in row.iter_mut() {
                    p[2] = 0.5;
                }
            },
        )
        .unwrap();
        for y in -2..10 {
            for x in -2..10 {
                let p = dst.pixel(x, y);
                let inside_win = x >= win.x1 && x < win.x2 && y >= win.y1 && y < win.y2;
                if !inside_win {
                    assert_eq!(p, [-1.0; 4], "({x},{y}) outside the window was touched");
                } else if (0..8).contains(&x) {
                    assert_eq!(p, [x as f32, y as f32, 0.5, 1.0]);
                } else {
                    assert_eq!(p, [0.0, 0.0, 0.5, 0.0]);
                }
            }
        }
    }

    #[test]
    fn abort_stops_the_render() {
        let src = ImageBuf::from_fn(Rect::new(0, 0, 4, 64), |_, _| [0.0; 4]);
        let mut dst = src.clone();
        let r = map_rows(
            &src.view(),
            &dst.view_mut(),
            src.bounds(),
            &|| true,
            |_, _, _| {},
        );
        assert_eq!(r, Err(OpError::Aborted));
    }

    /// An op with a visible, position-free result: every channel transformed differently.
    fn op(s: &[[f32; 4]], d: &mut [[f32; 4]]) {
        for (d, s) in d.iter_mut().zip(s) {
            *d = [s[0] * 2.0, s[1] + 1.0, -s[2], s[3]];
        }
    }

    fn expected(src: &ImageBuf, win: Rect) -> impl Fn(i32, i32) -> Option<[f32; 4]> + '_ {
        move |x, y| {
            let inside = x >= win.x1 && x < win.x2 && y >= win.y1 && y < win.y2;
            inside.then(|| {
                let mut out = [[0.0; 4]];
                op(&[src.pixel(x, y)], &mut out);
                out[0]
            })
        }
    }

    #[test]
    fn into_gives_the_same_pixels_in_place_and_through_buffers() {
        // Direct (F32 RGBA both sides), buffered source (half), buffered destination (RGB),
        // rows not 4-byte aligned (2 bytes of padding), bottom-up storage, and a window wider
        // than the source (black outside it): all must give the same pixels.
        let bounds = Rect::new(-3, 2, 37, 29);
        let pattern = |x: i32, y: i32| {
            [
                x as f32 * 0.25,
                y as f32 * 0.5,
                (x * y) as f32 * 0.125,
                0.5 + (x % 2) as f32 * 0.5,
            ]
        };
        let win = Rect::new(-6, 3, 40, 27);
        let layouts = [
            (PixelDepth::F32, Components::Rgba, 0, false),
            (PixelDepth::F32, Components::Rgba, 2, false),
            (PixelDepth::F32, Components::Rgba, 16, true),
            (PixelDepth::F16, Components::Rgba, 0, false),
            (PixelDepth::F32, Components::Rgb, 0, true),
        ];
        for &(sd, sc, sp, sb) in &layouts {
            let src = ImageBuf::new(bounds, sd, sc, sp, sb);
            src.fill_with(pattern);
            for &(dd, dc, dp, db) in &layouts {
                let mut dst = ImageBuf::new(Rect::new(-8, 0, 42, 30), dd, dc, dp, db);
                dst.fill_with(|_, _| [7.0; 4]);
                let before = dst.clone();
                map_rows_into(
                    &src.view(),
                    &dst.view_mut(),
                    win,
                    &NeverAbort,
                    |_, _, s, d| op(s, d),
                )
                .unwrap();
                // What the buffered driver gives, written through the same destination format.
                let mut want = before.clone();
                map_rows(
                    &src.view(),
                    &want.view_mut(),
                    win,
                    &NeverAbort,
                    |_, _, r| {
                        let s = r.to_vec();
                        op(&s, r)
                    },
                )
                .unwrap();
                let exp = expected(&src, win);
                for y in 0..30 {
                    for x in -8..42 {
                        let got = dst.pixel(x, y);
                        assert_eq!(
                            got.map(f32::to_bits),
                            want.pixel(x, y).map(f32::to_bits),
                            "src {sd:?}/{sc:?}/{sp}/{sb} dst {dd:?}/{dc:?}/{dp}/{db} at ({x},{y})"
                        );
                        if exp(x, y).is_none() {
                            assert_eq!(got, before.pixel(x, y), "({x},{y}) outside the window");
                        }
                    }
                }
            }
        }
        // Sanity of the reference itself on the direct pair: the op's values, black outside
        // the source.
        let src = ImageBuf::from_fn(bounds, pattern);
        let mut dst = ImageBuf::from_fn(Rect::new(-8, 0, 42, 30), |_, _| [7.0; 4]);
        map_rows_into(
            &src.view(),
            &dst.view_mut(),
            win,
            &NeverAbort,
            |_, _, s, d| op(s, d),
        )
        .unwrap();
        assert_eq!(dst.pixel(0, 5), [0.0, 3.5, -0.0, 0.5]);
        assert_eq!(dst.pixel(-5, 5), [0.0, 1.0, -0.0, 0.0]);
        assert_eq!(dst.pixel(-7, 5), [7.0; 4]);
    }

    #[test]
    fn into_handles_a_destination_that_is_the_source() {
        // A host may hand the same memory as source and output: the result must be as if the
        // source had been read first.
        let b = Rect::new(0, 0, 70, 9);
        let mut img = ImageBuf::from_fn(b, |x, y| [x as f32, y as f32, 1.0, 0.5]);
        let layout = *img.layout();
        let ptr = img.as_mut_ptr();
        // SAFETY: both views cover `img`'s pixels and live only for this call; the driver
        // detects the overlap and never holds a source row and a destination row of the same
        // memory at once.
        let (src, dst) = unsafe {
            (
                ImageView::from_raw(ptr, layout).unwrap(),
                ImageViewMut::from_raw(ptr, layout).unwrap(),
            )
        };
        // The op reads each pixel's left neighbour after writing that neighbour's result: on
        // memory shared with the source it would read its own output.
        let blur = |s: &[[f32; 4]], d: &mut [[f32; 4]]| {
            for i in 0..d.len() {
                let left = s[i.saturating_sub(1)];
                d[i] = [s[i][0] + left[0], s[i][1], s[i][2], s[i][3]];
            }
        };
        map_rows_into(&src, &dst, b, &NeverAbort, |_, _, s, d| blur(s, d)).unwrap();
        for y in 0..9 {
            for x in 0..70 {
                let want = [(x + (x - 1).max(0)) as f32, y as f32, 1.0, 0.5];
                assert_eq!(img.pixel(x, y), want, "({x},{y})");
            }
        }
    }
}
