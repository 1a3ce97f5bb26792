//! Image views over memory PlateRestore does not own: a host's image, a harness buffer, a test
//! fixture. A view carries its bounds (any origin), signed row bytes (bottom-up images have a
//! negative pitch), pixel depth and components, so no op ever assumes a packed, origin-zero frame.
//!
//! Ops work on rows of un-clamped `[f32; 4]` RGBA; `read_row` / `write_row` convert from and to
//! every OFX depth and component set.

use half::f16;
use std::marker::PhantomData;

/// A pixel rectangle, half-open: `x1 <= x < x2`, `y1 <= y < y2` (the OFX `OfxRectI` convention).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Rect {
    pub x1: i32,
    pub y1: i32,
    pub x2: i32,
    pub y2: i32,
}

impl Rect {
    pub const fn new(x1: i32, y1: i32, x2: i32, y2: i32) -> Self {
        Rect { x1, y1, x2, y2 }
    }
    pub fn width(&self) -> i32 {
        (self.x2 - self.x1).max(0)
    }
    pub fn height(&self) -> i32 {
        (self.y2 - self.y1).max(0)
    }
    pub fn is_empty(&self) -> bool {
        self.width() == 0 || self.height() == 0
    }
    pub fn pixel_count(&self) -> usize {
        self.width() as usize * self.height() as usize
    }
    pub fn intersect(&self, other: &Rect) -> Rect {
        let r = Rect {
            x1: self.x1.max(other.x1),
            y1: self.y1.max(other.y1),
            x2: self.x2.min(other.x2),
            y2: self.y2.min(other.y2),
        };
        if r.is_empty() {
            Rect::default()
        } else {
            r
        }
    }
    pub fn contains(&self, other: &Rect) -> bool {
        other.is_empty()
            || (other.x1 >= self.x1
                && other.y1 >= self.y1
                && other.x2 <= self.x2
                && other.y2 <= self.y2)
    }
}

/// Storage type of one channel (OFX `kOfxBitDepthByte/Short/Half/Float`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PixelDepth {
    U8,
    U16,
    F16,
    F32,
}

impl PixelDepth {
    pub const ALL: [PixelDepth; 4] = [
        PixelDepth::U8,
        PixelDepth::U16,
        PixelDepth::F16,
        PixelDepth::F32,
    ];
    pub fn bytes(self) -> usize {
        match self {
            PixelDepth::U8 => 1,
            PixelDepth::U16 | PixelDepth::F16 => 2,
            PixelDepth::F32 => 4,
        }
    }
    pub fn is_float(self) -> bool {
        matches!(self, PixelDepth::F16 | PixelDepth::F32)
    }
}

/// Channels stored per pixel (OFX `kOfxImageComponentRGBA/RGB/Alpha`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Components {
    Rgba,
    Rgb,
    Alpha,
}

impl Components {
    pub const ALL: [Components; 3] = [Components::Rgba, Components::Rgb, Components::Alpha];
    pub fn count(self) -> usize {
        match self {
            Components::Rgba => 4,
            Components::Rgb => 3,
            Components::Alpha => 1,
        }
    }
}

/// Everything needed to address a pixel in memory, apart from the base pointer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageLayout {
    /// Pixel bounds of the data; `data` points at pixel `(bounds.x1, bounds.y1)`.
    pub bounds: Rect,
    /// Bytes from one row to the next (y + 1); negative for images stored bottom-up in memory.
    pub row_bytes: isize,
    pub depth: PixelDepth,
    pub components: Components,
}

impl ImageLayout {
    /// A tightly packed layout (row bytes = width × pixel bytes).
    pub fn packed(bounds: Rect, depth: PixelDepth, components: Components) -> Self {
        ImageLayout {
            bounds,
            row_bytes: (bounds.width() as usize * depth.bytes() * components.count()) as isize,
            depth,
            components,
        }
    }
    pub fn pixel_bytes(&self) -> usize {
        self.depth.bytes() * self.components.count()
    }
    /// Checks that rows are wide enough for the bounds; a host passing less is rejected, not trusted.
    pub fn validate(&self) -> Result<(), ImageError> {
        if self.bounds.x2 < self.bounds.x1 || self.bounds.y2 < self.bounds.y1 {
            return Err(ImageError::BadBounds(self.bounds));
        }
        let min = self.bounds.width() as usize * self.pixel_bytes();
        if self.bounds.height() > 1 && self.row_bytes.unsigned_abs() < min {
            return Err(ImageError::RowBytesTooSmall {
                row_bytes: self.row_bytes,
                needed: min,
            });
        }
        Ok(())
    }
    /// Byte offset of pixel (x, y) from the base pointer; caller guarantees it is inside bounds.
    fn offset(&self, x: i32, y: i32) -> isize {
        (y - self.bounds.y1) as isize * self.row_bytes
            + ((x - self.bounds.x1) as usize * self.pixel_bytes()) as isize
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ImageError {
    #[error("image bounds {0:?} are inverted")]
    BadBounds(Rect),
    #[error("row bytes {row_bytes} are smaller than one row of pixels ({needed} bytes)")]
    RowBytesTooSmall { row_bytes: isize, needed: usize },
    #[error("image data pointer is null")]
    NullData,
}

/// A read-only view of pixels someone else owns.
#[derive(Clone, Copy)]
pub struct ImageView<'a> {
    data: *const u8,
    layout: ImageLayout,
    _life: PhantomData<&'a [u8]>,
}

// SAFETY: a view is a shared borrow of plain pixel memory; reading it from several threads is
// sound as long as nobody writes to it during 'a, which `from_raw`'s contract requires.
unsafe impl Send for ImageView<'_> {}
unsafe impl Sync for ImageView<'_> {}

/// A writable view of pixels someone else owns.
pub struct ImageViewMut<'a> {
    data: *mut u8,
    layout: ImageLayout,
    _life: PhantomData<&'a mut [u8]>,
}

// SAFETY: as for ImageView; concurrent writers must touch disjoint rows, which
// `write_row` callers guarantee by splitting the render window into row bands.
unsafe impl Send for ImageViewMut<'_> {}
unsafe impl Sync for ImageViewMut<'_> {}

impl<'a> ImageView<'a> {
    /// # Safety
    /// `data` must point at pixel `(bounds.x1, bounds.y1)` of an allocation covering every row
    /// of `layout` and stay valid, and unwritten by others, for `'a`.
    pub unsafe fn from_raw(data: *const u8, layout: ImageLayout) -> Result<Self, ImageError> {
        if data.is_null() && !layout.bounds.is_empty() {
            return Err(ImageError::NullData);
        }
        layout.validate()?;
        Ok(ImageView {
            data,
            layout,
            _life: PhantomData,
        })
    }
    pub fn layout(&self) -> &ImageLayout {
        &self.layout
    }
    pub fn bounds(&self) -> Rect {
        self.layout.bounds
    }
    pub fn data_ptr(&self) -> *const u8 {
        self.data
    }

    /// Reads pixels `x1..x1 + out.len()` of row `y` as RGBA f32 (byte/short scaled to 0..1;
    /// RGB gets alpha 1; Alpha-only gets colour 0). Pixels outside the bounds read as
    /// transparent black, as OFX specifies for out-of-bounds source pixels.
    pub fn read_row(&self, y: i32, x1: i32, out: &mut [[f32; 4]]) {
        let b = self.layout.bounds;
        let x2 = x1 + out.len() as i32;
        if y < b.y1 || y >= b.y2 || x2 <= b.x1 || x1 >= b.x2 {
            out.fill([0.0; 4]);
            return;
        }
        let lo = b.x1.max(x1);
        let hi = b.x2.min(x2);
        out[..(lo - x1) as usize].fill([0.0; 4]);
        out[(hi - x1) as usize..].fill([0.0; 4]);
        let dst = &mut out[(lo - x1) as usize..(hi - x1) as usize];
        let n = dst.len() * self.layout.pixel_bytes();
        // SAFETY: (lo, y)..(hi, y) lies inside bounds, which from_raw's contract covers.
        let src =
            unsafe { std::slice::from_raw_parts(self.data.offset(self.layout.offset(lo, y)), n) };
        decode(src, self.layout.depth, self.layout.components, dst);
    }

    /// Pixels `x1..x1 + len` of row `y` in place, when the image stores them as they are
    /// processed (RGBA `f32`, 4-byte aligned) and they all lie inside the bounds: the
    /// per-pixel drivers then skip the conversion into a row buffer.
    pub fn rgba_f32_row(&self, y: i32, x1: i32, len: usize) -> Option<&[[f32; 4]]> {
        let ptr = self.layout.rgba_f32_row_ptr(self.data, y, x1, len)?;
        // SAFETY: the pixels lie inside bounds (checked above, covered by from_raw's
        // contract), the pointer is aligned for f32 and `[f32; 4]` has no padding; nobody
        // writes this memory during 'a (from_raw's contract).
        Some(unsafe { std::slice::from_raw_parts(ptr as *const [f32; 4], len) })
    }
}

impl ImageLayout {
    /// The address of pixel (x1, y) if pixels `x1..x1 + len` of row `y` are inside the bounds
    /// and stored as 4-byte aligned RGBA `f32`.
    fn rgba_f32_row_ptr(&self, base: *const u8, y: i32, x1: i32, len: usize) -> Option<*const u8> {
        let b = self.bounds;
        let inside = y >= b.y1 && y < b.y2 && x1 >= b.x1 && (x1 as i64 + len as i64) <= b.x2 as i64;
        if !inside || self.depth != PixelDepth::F32 || self.components != Components::Rgba {
            return None;
        }
        // `wrapping_offset`: no claim about the allocation is made until the slice is built.
        let ptr = base.wrapping_offset(self.offset(x1, y));
        (ptr as usize)
            .is_multiple_of(std::mem::align_of::<f32>())
            .then_some(ptr)
    }
}

impl<'a> ImageViewMut<'a> {
    /// # Safety
    /// As `ImageView::from_raw`, and nobody else reads or writes the memory during `'a`
    /// except through this view.
    pub unsafe fn from_raw(data: *mut u8, layout: ImageLayout) -> Result<Self, ImageError> {
        if data.is_null() && !layout.bounds.is_empty() {
            return Err(ImageError::NullData);
        }
        layout.validate()?;
        Ok(ImageViewMut {
            data,
            layout,
            _life: PhantomData,
        })
    }
    pub fn layout(&self) -> &ImageLayout {
        &self.layout
    }
    pub fn bounds(&self) -> Rect {
        self.layout.bounds
    }
    pub fn data_ptr(&self) -> *mut u8 {
        self.data
    }
    /// A read-only view of the same pixels.
    pub fn as_view(&self) -> ImageView<'_> {
        ImageView {
            data: self.data,
            layout: self.layout,
            _life: PhantomData,
        }
    }

    /// As [`ImageView::rgba_f32_row`], writable: the pixels are computed straight into the
    /// destination.
    ///
    /// # Safety
    /// While the returned slice lives, nothing else may read or write those pixels: no other
    /// slice or `write_row` of the same row through this view, and no source view of the same
    /// memory. The per-pixel drivers hand each row to one thread and check that source and
    /// destination rows do not overlap.
    // A `&mut` from `&self` is the point: threads each take their own rows of one view, as
    // with `write_row`; the exclusivity is the caller's promise above.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn rgba_f32_row_mut(&self, y: i32, x1: i32, len: usize) -> Option<&mut [[f32; 4]]> {
        let ptr = self.layout.rgba_f32_row_ptr(self.data, y, x1, len)? as *mut u8;
        // SAFETY: inside bounds and aligned (checked above, covered by from_raw's contract);
        // exclusive access is the caller's promise.
        Some(unsafe { std::slice::from_raw_parts_mut(ptr as *mut [f32; 4], len) })
    }

    /// Writes `px` to row `y` starting at `x1`, converting to the stored depth (integer depths
    /// clamp to 0..1 and round to nearest). Pixels outside the bounds are dropped.
    ///
    /// Takes `&self` so row bands can be written from several threads; callers must never
    /// write the same row concurrently (the op drivers hand each thread its own rows).
    pub fn write_row(&self, y: i32, x1: i32, px: &[[f32; 4]]) {
        let b = self.layout.bounds;
        let x2 = x1 + px.len() as i32;
        if y < b.y1 || y >= b.y2 || x2 <= b.x1 || x1 >= b.x2 {
            return;
        }
        let lo = b.x1.max(x1);
        let hi = b.x2.min(x2);
        let src = &px[(lo - x1) as usize..(hi - x1) as usize];
        let n = src.len() * self.layout.pixel_bytes();
        // SAFETY: inside bounds (from_raw's contract); rows are written by one thread at a time.
        let dst = unsafe {
            std::slice::from_raw_parts_mut(self.data.offset(self.layout.offset(lo, y)), n)
        };
        encode(src, self.layout.depth, self.layout.components, dst);
    }
}

fn channel_map(components: Components) -> &'static [usize] {
    match components {
        Components::Rgba => &[0, 1, 2, 3],
        Components::Rgb => &[0, 1, 2],
        Components::Alpha => &[3],
    }
}

fn decode(src: &[u8], depth: PixelDepth, components: Components, out: &mut [[f32; 4]]) {
    let map = channel_map(components);
    let nc = map.len();
    let base = match components {
        Components::Rgb => [0.0, 0.0, 0.0, 1.0],
        _ => [0.0; 4],
    };
    match depth {
        PixelDepth::F32 if components == Components::Rgba => {
            // Same memory layout: a straight byte copy (any source alignment).
            let n = src.len().min(out.len() * 16);
            // SAFETY: `out` is `out.len() * 16` bytes of plain f32s; every bit pattern is a
            // valid f32, and the copy stays within both slices.
            unsafe {
                std::ptr::copy_nonoverlapping(src.as_ptr(), out.as_mut_ptr() as *mut u8, n);
            }
        }
        _ => {
            let bpc = depth.bytes();
            for (o, s) in out.iter_mut().zip(src.chunks_exact(bpc * nc)) {
                *o = base;
                for (i, &c) in map.iter().enumerate() {
                    let b = &s[i * bpc..(i + 1) * bpc];
                    o[c] = match depth {
                        PixelDepth::U8 => b[0] as f32 * (1.0 / 255.0),
                        PixelDepth::U16 => {
                            u16::from_ne_bytes([b[0], b[1]]) as f32 * (1.0 / 65535.0)
                        }
                        PixelDepth::F16 => {
                            f16::from_bits(u16::from_ne_bytes([b[0], b[1]])).to_f32()
                        }
                        PixelDepth::F32 => f32::from_ne_bytes([b[0], b[1], b[2], b[3]]),
                    };
                }
            }
        }
    }
}

/// Float to integer code value: clamp to 0..1, round half up. NaN becomes 0.
pub fn quantize(v: f32, max: f32) -> f32 {
    let v = if v.is_nan() { 0.0 } else { v.clamp(0.0, 1.0) };
    (v * max + 0.5).floor()
}

fn encode(src: &[[f32; 4]], depth: PixelDepth, components: Components, dst: &mut [u8]) {
    let map = channel_map(components);
    let nc = map.len();
    match depth {
        PixelDepth::F32 if components == Components::Rgba => {
            let n = dst.len().min(src.len() * 16);
            // SAFETY: `src` is `src.len() * 16` bytes of f32s; the copy stays within both.
            unsafe {
                std::ptr::copy_nonoverlapping(src.as_ptr() as *const u8, dst.as_mut_ptr(), n);
            }
        }
        _ => {
            let bpc = depth.bytes();
            for (d, s) in dst.chunks_exact_mut(bpc * nc).zip(src) {
                for (i, &c) in map.iter().enumerate() {
                    let b = &mut d[i * bpc..(i + 1) * bpc];
                    let v = s[c];
                    match depth {
                        PixelDepth::U8 => b[0] = quantize(v, 255.0) as u8,
                        PixelDepth::U16 => {
                            b.copy_from_slice(&(quantize(v, 65535.0) as u16).to_ne_bytes())
                        }
                        PixelDepth::F16 => {
                            b.copy_from_slice(&f16::from_f32(v).to_bits().to_ne_bytes())
                        }
                        PixelDepth::F32 => b.copy_from_slice(&v.to_ne_bytes()),
                    }
                }
            }
        }
    }
}

/// An owned image with any layout, for tests, benches and the harness: padded rows, odd origins
/// and bottom-up storage are all expressible.
#[derive(Clone)]
pub struct ImageBuf {
    storage: Vec<u64>, // u64 keeps every depth aligned
    start: usize,      // byte offset of pixel (x1, y1) in storage
    layout: ImageLayout,
}

impl ImageBuf {
    /// A zeroed image. `padding` extra bytes per row; `bottom_up` stores the last row first
    /// (negative row bytes).
    pub fn new(
        bounds: Rect,
        depth: PixelDepth,
        components: Components,
        padding: usize,
        bottom_up: bool,
    ) -> Self {
        let packed = bounds.width() as usize * depth.bytes() * components.count();
        let stride = packed + padding;
        let total = stride * bounds.height() as usize;
        let storage = vec![0u64; total.div_ceil(8).max(1)];
        let (start, row_bytes) = if bottom_up && bounds.height() > 0 {
            (stride * (bounds.height() as usize - 1), -(stride as isize))
        } else {
            (0, stride as isize)
        };
        ImageBuf {
            storage,
            start,
            layout: ImageLayout {
                bounds,
                row_bytes,
                depth,
                components,
            },
        }
    }
    /// A packed RGBA f32 image filled by `f(x, y)`.
    pub fn from_fn(bounds: Rect, f: impl Fn(i32, i32) -> [f32; 4]) -> Self {
        let img = ImageBuf::new(bounds, PixelDepth::F32, Components::Rgba, 0, false);
        img.fill_with(f);
        img
    }
    /// Overwrites every pixel with `f(x, y)` (converted to the stored depth).
    pub fn fill_with(&self, f: impl Fn(i32, i32) -> [f32; 4]) {
        let b = self.layout.bounds;
        let v = self.view_mut_shared();
        let mut row = vec![[0.0f32; 4]; b.width() as usize];
        for y in b.y1..b.y2 {
            for (i, p) in row.iter_mut().enumerate() {
                *p = f(b.x1 + i as i32, y);
            }
            v.write_row(y, b.x1, &row);
        }
    }
    pub fn layout(&self) -> &ImageLayout {
        &self.layout
    }
    pub fn bounds(&self) -> Rect {
        self.layout.bounds
    }
    fn base(&self) -> *const u8 {
        // SAFETY: start < storage byte length (or 0 for an empty image).
        unsafe { (self.storage.as_ptr() as *const u8).add(self.start) }
    }
    pub fn view(&self) -> ImageView<'_> {
        ImageView {
            data: self.base(),
            layout: self.layout,
            _life: PhantomData,
        }
    }
    pub fn view_mut(&mut self) -> ImageViewMut<'_> {
        self.view_mut_shared()
    }
    // Internal: write access through &self, used only by fill_with (single-threaded).
    fn view_mut_shared(&self) -> ImageViewMut<'_> {
        ImageViewMut {
            data: self.base() as *mut u8,
            layout: self.layout,
            _life: PhantomData,
        }
    }
    /// Raw base pointer (pixel (x1, y1)), for handing to a host or a plugin.
    pub fn as_mut_ptr(&mut self) -> *mut u8 {
        self.base() as *mut u8
    }
    /// Every pixel of the bounds as RGBA f32, row-major from y1.
    pub fn to_rgba_f32(&self) -> Vec<[f32; 4]> {
        let b = self.layout.bounds;
        let mut out = vec![[0.0f32; 4]; b.pixel_count()];
        if b.width() > 0 {
            for (i, row) in out.chunks_exact_mut(b.width() as usize).enumerate() {
                self.view().read_row(b.y1 + i as i32, b.x1, row);
            }
        }
        out
    }
    pub fn pixel(&self, x: i32, y: i32) -> [f32; 4] {
        let mut p = [[0.0f32; 4]; 1];
        self.view().read_row(y, x, &mut p);
        p[0]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_every_depth_and_layout() {
        let b = Rect::new(-7, 13, 10, 20);
        let f = |x: i32, y: i32| [(x + 7) as f32 / 17.0, (y - 13) as f32 / 7.0, 0.25, 0.75];
        for depth in PixelDepth::ALL {
            for comps in Components::ALL {
                for (pad, flip) in [(0, false), (13, false), (8, true)] {
                    let img = ImageBuf::new(b, depth, comps, pad, flip);
                    img.fill_with(f);
                    let tol = match depth {
                        PixelDepth::U8 => 0.5 / 255.0 + 1e-6,
                        PixelDepth::U16 => 0.5 / 65535.0 + 1e-7,
                        PixelDepth::F16 => 1e-3,
                        PixelDepth::F32 => 0.0,
                    };
                    for y in b.y1..b.y2 {
                        for x in b.x1..b.x2 {
                            let want = f(x, y);
                            let got = img.pixel(x, y);
                            let want = match comps {
                                Components::Rgba => want,
                                Components::Rgb => [want[0], want[1], want[2], 1.0],
                                Components::Alpha => [0.0, 0.0, 0.0, want[3]],
                            };
                            for c in 0..4 {
                                assert!((got[c] - want[c]).abs() <= tol, "{depth:?} {comps:?} pad={pad} flip={flip} ({x},{y}) c{c}: {} vs {}", got[c], want[c]);
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn out_of_bounds_reads_are_transparent_black() {
        let img = ImageBuf::from_fn(Rect::new(0, 0, 4, 4), |_, _| [1.0; 4]);
        let mut row = [[9.0f32; 4]; 8];
        img.view().read_row(1, -2, &mut row);
        assert_eq!(row[0], [0.0; 4]);
        assert_eq!(row[1], [0.0; 4]);
        assert_eq!(row[2], [1.0; 4]);
        assert_eq!(row[5], [1.0; 4]);
        assert_eq!(row[6], [0.0; 4]);
        img.view().read_row(4, 0, &mut row);
        assert!(row.iter().all(|p| *p == [0.0; 4]));
    }

    #[test]
    fn integer_depths_clamp_and_round() {
        assert_eq!(quantize(-0.2, 255.0), 0.0);
        assert_eq!(quantize(1.7, 255.0), 255.0);
        assert_eq!(quantize(f32::NAN, 255.0), 0.0);
        assert_eq!(quantize(0.5 / 255.0, 255.0), 1.0);
        assert_eq!(quantize(0.49 / 255.0, 255.0), 0.0);
    }

    #[test]
    fn layouts_with_short_rows_are_rejected() {
        let l = ImageLayout {
            bounds: Rect::new(0, 0, 10, 2),
            row_bytes: 39,
            depth: PixelDepth::F32,
            components: Components::Rgb,
        };
        assert!(matches!(
            l.validate(),
            Err(ImageError::RowBytesTooSmall { .. })
        ));
        // SAFETY: never dereferenced: from_raw rejects null before anything else.
        assert!(unsafe {
            ImageView::from_raw(
                std::ptr::null(),
                ImageLayout::packed(l.bounds, l.depth, l.components),
            )
        }
        .is_err());
    }
}
