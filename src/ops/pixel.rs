//! The driver every per-pixel op runs on: split the render window into bands of rows, convert
//! each source row to RGBA f32, let the op transform it in place, write it to the destination.
//! Work is split by rows only, so the result cannot depend on the thread count.

use super::{Abort, OpError};
use crate::image::{ImageView, ImageViewMut, Rect};
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::{Components, ImageBuf, PixelDepth};
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
}
