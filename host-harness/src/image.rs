//! The harness's own image: owned pixel memory with an explicit layout (bounds with any origin,
//! signed row bytes, depth, components, premultiplication). It is what the host hands plugins
//! as clip images, what file I/O reads and writes, and what tests compare.
//!
//! Conversions go through un-clamped RGBA `f32`: byte and short scale to 0..1, RGB reads alpha 1,
//! Alpha-only reads colour 0 — the same convention as the plugin crate's image views, so
//! `to_packed_bytes` output can be compared with the plugin crate's ops bit for bit.

use half::f16;

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
    /// A `width × height` rectangle with its lower-left corner at the origin.
    pub const fn from_size(width: i32, height: i32) -> Self {
        Rect::new(0, 0, width, height)
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
    /// The overlap of two rectangles; empty rectangles come back as `Rect::default()`.
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
    /// The smallest rectangle holding both (an empty one adds nothing).
    pub fn union(&self, other: &Rect) -> Rect {
        if self.is_empty() {
            return *other;
        }
        if other.is_empty() {
            return *self;
        }
        Rect {
            x1: self.x1.min(other.x1),
            y1: self.y1.min(other.y1),
            x2: self.x2.max(other.x2),
            y2: self.y2.max(other.y2),
        }
    }
    pub fn contains(&self, other: &Rect) -> bool {
        other.is_empty()
            || (other.x1 >= self.x1
                && other.y1 >= self.y1
                && other.x2 <= self.x2
                && other.y2 <= self.y2)
    }
    pub fn contains_point(&self, x: i32, y: i32) -> bool {
        x >= self.x1 && x < self.x2 && y >= self.y1 && y < self.y2
    }
    /// The same size, moved so its lower-left corner is `(x, y)`.
    pub fn moved_to(&self, x: i32, y: i32) -> Rect {
        Rect::new(x, y, x + self.width(), y + self.height())
    }
}

/// Storage type of one channel (OFX `kOfxBitDepthByte/Short/Half/Float`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BitDepth {
    Byte,
    Short,
    Half,
    Float,
}

impl BitDepth {
    pub const ALL: [BitDepth; 4] = [
        BitDepth::Byte,
        BitDepth::Short,
        BitDepth::Half,
        BitDepth::Float,
    ];
    pub fn bytes(self) -> usize {
        match self {
            BitDepth::Byte => 1,
            BitDepth::Short | BitDepth::Half => 2,
            BitDepth::Float => 4,
        }
    }
    pub fn is_float(self) -> bool {
        matches!(self, BitDepth::Half | BitDepth::Float)
    }
    /// The OFX property string (`OfxBitDepthFloat`, …).
    pub fn ofx_name(self) -> &'static str {
        match self {
            BitDepth::Byte => "OfxBitDepthByte",
            BitDepth::Short => "OfxBitDepthShort",
            BitDepth::Half => "OfxBitDepthHalf",
            BitDepth::Float => "OfxBitDepthFloat",
        }
    }
    pub fn from_ofx_name(name: &str) -> Option<BitDepth> {
        BitDepth::ALL.into_iter().find(|d| d.ofx_name() == name)
    }
}

impl std::str::FromStr for BitDepth {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "byte" | "8" | "u8" => Ok(BitDepth::Byte),
            "short" | "16" | "u16" => Ok(BitDepth::Short),
            "half" | "f16" => Ok(BitDepth::Half),
            "float" | "32" | "f32" => Ok(BitDepth::Float),
            _ => Err(format!(
                "unknown depth '{s}': use byte, short, half or float"
            )),
        }
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
    /// The OFX property string (`OfxImageComponentRGBA`, …).
    pub fn ofx_name(self) -> &'static str {
        match self {
            Components::Rgba => "OfxImageComponentRGBA",
            Components::Rgb => "OfxImageComponentRGB",
            Components::Alpha => "OfxImageComponentAlpha",
        }
    }
    pub fn from_ofx_name(name: &str) -> Option<Components> {
        Components::ALL.into_iter().find(|c| c.ofx_name() == name)
    }
    /// Which RGBA channel each stored channel holds.
    fn channel_map(self) -> &'static [usize] {
        match self {
            Components::Rgba => &[0, 1, 2, 3],
            Components::Rgb => &[0, 1, 2],
            Components::Alpha => &[3],
        }
    }
}

/// How colour relates to alpha (OFX `kOfxImageOpaque/PreMultiplied/UnPreMultiplied`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Premult {
    Opaque,
    #[default]
    PreMultiplied,
    UnPreMultiplied,
}

impl Premult {
    /// The values of `kOfxImageOpaque`, `kOfxImagePreMultiplied` and `kOfxImageUnPreMultiplied`
    /// (ofxImageEffect.h): the macro names differ from their strings.
    pub fn ofx_name(self) -> &'static str {
        match self {
            Premult::Opaque => "OfxImageOpaque",
            Premult::PreMultiplied => "OfxImageAlphaPremultiplied",
            Premult::UnPreMultiplied => "OfxImageAlphaUnPremultiplied",
        }
    }
    pub fn from_ofx_name(name: &str) -> Option<Premult> {
        [
            Premult::Opaque,
            Premult::PreMultiplied,
            Premult::UnPreMultiplied,
        ]
        .into_iter()
        .find(|p| p.ofx_name() == name)
    }
}

/// Everything needed to address a pixel in memory, apart from the base pointer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageLayout {
    /// Pixel bounds of the data.
    pub bounds: Rect,
    /// Bytes from row `y` to row `y + 1`; negative for images stored bottom-up in memory.
    pub row_bytes: isize,
    pub depth: BitDepth,
    pub components: Components,
    pub premult: Premult,
}

impl ImageLayout {
    /// A tightly packed, top-down-in-`y` layout (row bytes = width × pixel bytes).
    pub fn packed(bounds: Rect, depth: BitDepth, components: Components) -> Self {
        ImageLayout {
            bounds,
            row_bytes: (bounds.width() as usize * depth.bytes() * components.count()) as isize,
            depth,
            components,
            premult: Premult::default(),
        }
    }
    pub fn pixel_bytes(&self) -> usize {
        self.depth.bytes() * self.components.count()
    }
    /// Bytes of one row of pixels without padding.
    pub fn packed_row_bytes(&self) -> usize {
        self.bounds.width() as usize * self.pixel_bytes()
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ImageError {
    #[error(
        "{got} bytes given for a {bounds:?} {depth:?} {components:?} image that needs {needed}"
    )]
    WrongByteCount {
        got: usize,
        needed: usize,
        bounds: Rect,
        depth: BitDepth,
        components: Components,
    },
    #[error("{got} RGBA pixels given for {bounds:?}, which holds {needed}")]
    WrongPixelCount {
        got: usize,
        needed: usize,
        bounds: Rect,
    },
    #[error("image bounds {0:?} are inverted")]
    BadBounds(Rect),
}

/// How rows are laid out in memory when building an image: padding bytes at the end of each row
/// and whether the last row comes first (negative row bytes). The default is packed, top-down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RowLayout {
    pub padding_bytes: usize,
    pub bottom_up: bool,
}

/// Owned pixels with any layout. Storage is `u64`-aligned so every depth reads aligned.
#[derive(Clone)]
pub struct HostImage {
    storage: Vec<u64>,
    /// Byte offset of pixel `(bounds.x1, bounds.y1)` in `storage`.
    start: usize,
    layout: ImageLayout,
}

/// The name the file I/O module uses for the same type.
pub type HostPixels = HostImage;

impl std::fmt::Debug for HostImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostImage")
            .field("layout", &self.layout)
            .finish_non_exhaustive()
    }
}

impl HostImage {
    /// A zeroed, packed image.
    pub fn new(bounds: Rect, depth: BitDepth, components: Components) -> Self {
        Self::with_rows(bounds, depth, components, RowLayout::default())
    }

    /// A zeroed image with padded rows and/or bottom-up storage.
    pub fn with_rows(
        bounds: Rect,
        depth: BitDepth,
        components: Components,
        rows: RowLayout,
    ) -> Self {
        let bounds = if bounds.x2 < bounds.x1 || bounds.y2 < bounds.y1 {
            Rect::new(bounds.x1, bounds.y1, bounds.x1, bounds.y1)
        } else {
            bounds
        };
        let packed = bounds.width() as usize * depth.bytes() * components.count();
        let stride = packed + rows.padding_bytes;
        let total = stride * bounds.height() as usize;
        let storage = vec![0u64; total.div_ceil(8).max(1)];
        let (start, row_bytes) = if rows.bottom_up && bounds.height() > 0 {
            (stride * (bounds.height() as usize - 1), -(stride as isize))
        } else {
            (0, stride as isize)
        };
        HostImage {
            storage,
            start,
            layout: ImageLayout {
                bounds,
                row_bytes,
                depth,
                components,
                premult: Premult::default(),
            },
        }
    }

    /// Builds a packed image from tightly packed rows, `y1` first, native-endian channels.
    pub fn from_packed_bytes(
        bounds: Rect,
        depth: BitDepth,
        components: Components,
        bytes: &[u8],
    ) -> Result<Self, ImageError> {
        let mut img = HostImage::new(bounds, depth, components);
        let needed = img.layout.packed_row_bytes() * bounds.height() as usize;
        if bytes.len() != needed {
            return Err(ImageError::WrongByteCount {
                got: bytes.len(),
                needed,
                bounds,
                depth,
                components,
            });
        }
        let row = img.layout.packed_row_bytes();
        if row > 0 {
            for (i, chunk) in bytes.chunks_exact(row).enumerate() {
                img.row_bytes_mut(bounds.y1 + i as i32)
                    .copy_from_slice(chunk);
            }
        }
        Ok(img)
    }

    /// Builds an image of the given depth/components from RGBA f32 pixels, rows `y1` first.
    pub fn from_rgba_f32(
        bounds: Rect,
        depth: BitDepth,
        components: Components,
        rgba: &[[f32; 4]],
    ) -> Result<Self, ImageError> {
        if rgba.len() != bounds.pixel_count() {
            return Err(ImageError::WrongPixelCount {
                got: rgba.len(),
                needed: bounds.pixel_count(),
                bounds,
            });
        }
        let mut img = HostImage::new(bounds, depth, components);
        let w = bounds.width() as usize;
        if w > 0 {
            for (i, row) in rgba.chunks_exact(w).enumerate() {
                img.write_row(bounds.y1 + i as i32, bounds.x1, row);
            }
        }
        Ok(img)
    }

    pub fn layout(&self) -> &ImageLayout {
        &self.layout
    }
    pub fn bounds(&self) -> Rect {
        self.layout.bounds
    }
    pub fn depth(&self) -> BitDepth {
        self.layout.depth
    }
    pub fn components(&self) -> Components {
        self.layout.components
    }
    pub fn row_bytes(&self) -> isize {
        self.layout.row_bytes
    }
    pub fn premult(&self) -> Premult {
        self.layout.premult
    }
    pub fn set_premult(&mut self, premult: Premult) {
        self.layout.premult = premult;
    }

    fn storage_bytes(&self) -> &[u8] {
        // SAFETY: u64 storage reinterpreted as bytes: u8 has no alignment or validity
        // requirements and the length is exactly the storage's size in bytes.
        unsafe {
            std::slice::from_raw_parts(self.storage.as_ptr().cast::<u8>(), self.storage.len() * 8)
        }
    }
    fn storage_bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: as storage_bytes; the exclusive borrow of self makes the slice unique.
        unsafe {
            std::slice::from_raw_parts_mut(
                self.storage.as_mut_ptr().cast::<u8>(),
                self.storage.len() * 8,
            )
        }
    }
    fn row_start(&self, y: i32) -> usize {
        let off =
            self.start as isize + (y - self.layout.bounds.y1) as isize * self.layout.row_bytes;
        off as usize
    }

    /// Pointer to pixel `(bounds.x1, bounds.y1)`: what OFX's `kOfxImagePropData` holds.
    pub fn data_ptr(&self) -> *const u8 {
        // `start` is within storage by construction (the first/last row start).
        self.storage_bytes()[self.start..].as_ptr()
    }
    /// Mutable pointer to pixel `(bounds.x1, bounds.y1)`.
    pub fn data_ptr_mut(&mut self) -> *mut u8 {
        let start = self.start;
        self.storage_bytes_mut()[start..].as_mut_ptr()
    }

    /// The stored bytes of row `y` (without padding). Panics if `y` is outside the bounds.
    pub fn row(&self, y: i32) -> &[u8] {
        assert!(
            y >= self.layout.bounds.y1 && y < self.layout.bounds.y2,
            "row {y} outside {:?}",
            self.layout.bounds
        );
        let s = self.row_start(y);
        &self.storage_bytes()[s..s + self.layout.packed_row_bytes()]
    }
    /// Mutable stored bytes of row `y`. Panics if `y` is outside the bounds.
    pub fn row_bytes_mut(&mut self, y: i32) -> &mut [u8] {
        assert!(
            y >= self.layout.bounds.y1 && y < self.layout.bounds.y2,
            "row {y} outside {:?}",
            self.layout.bounds
        );
        let s = self.row_start(y);
        let n = self.layout.packed_row_bytes();
        &mut self.storage_bytes_mut()[s..s + n]
    }

    /// Row `y` with its padding: `|row_bytes|` bytes from the row's first pixel.
    pub fn row_with_padding(&self, y: i32) -> &[u8] {
        assert!(
            y >= self.layout.bounds.y1 && y < self.layout.bounds.y2,
            "row {y} outside {:?}",
            self.layout.bounds
        );
        let s = self.row_start(y);
        &self.storage_bytes()[s..s + self.layout.row_bytes.unsigned_abs()]
    }
    /// Mutable row `y` with its padding.
    pub fn row_with_padding_mut(&mut self, y: i32) -> &mut [u8] {
        assert!(
            y >= self.layout.bounds.y1 && y < self.layout.bounds.y2,
            "row {y} outside {:?}",
            self.layout.bounds
        );
        let s = self.row_start(y);
        let n = self.layout.row_bytes.unsigned_abs();
        &mut self.storage_bytes_mut()[s..s + n]
    }

    /// All stored bytes, padding included, in memory order (what a device copy moves).
    pub fn raw_storage(&self) -> &[u8] {
        self.storage_bytes()
    }
    /// Where pixel `(bounds.x1, bounds.y1)` lies in [`Self::raw_storage`]: `data_ptr()` minus
    /// the storage's start (the last row's start for bottom-up images).
    pub fn data_offset(&self) -> usize {
        self.start
    }
    /// All stored bytes, padding included, in memory order (for fills such as canaries).
    pub fn raw_storage_mut(&mut self) -> &mut [u8] {
        self.storage_bytes_mut()
    }

    /// Rows `y1..y2`, tightly packed, native-endian: the canonical byte form for comparisons.
    pub fn to_packed_bytes(&self) -> Vec<u8> {
        let b = self.layout.bounds;
        let mut out = Vec::with_capacity(self.layout.packed_row_bytes() * b.height() as usize);
        for y in b.y1..b.y2 {
            out.extend_from_slice(self.row(y));
        }
        out
    }

    /// Reads pixels `x1..x1 + out.len()` of row `y` as RGBA f32; outside the bounds reads
    /// transparent black.
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
        let pb = self.layout.pixel_bytes();
        let row = self.row(y);
        let src = &row[(lo - b.x1) as usize * pb..(hi - b.x1) as usize * pb];
        decode(
            src,
            self.layout.depth,
            self.layout.components,
            &mut out[(lo - x1) as usize..(hi - x1) as usize],
        );
    }

    /// Writes RGBA f32 pixels to row `y` from `x1`, converting to the stored depth (integer
    /// depths clamp to 0..1 and round half up). Pixels outside the bounds are dropped.
    pub fn write_row(&mut self, y: i32, x1: i32, px: &[[f32; 4]]) {
        let b = self.layout.bounds;
        let x2 = x1 + px.len() as i32;
        if y < b.y1 || y >= b.y2 || x2 <= b.x1 || x1 >= b.x2 {
            return;
        }
        let lo = b.x1.max(x1);
        let hi = b.x2.min(x2);
        let pb = self.layout.pixel_bytes();
        let (depth, comps) = (self.layout.depth, self.layout.components);
        let row = self.row_bytes_mut(y);
        let dst = &mut row[(lo - b.x1) as usize * pb..(hi - b.x1) as usize * pb];
        encode(
            &px[(lo - x1) as usize..(hi - x1) as usize],
            depth,
            comps,
            dst,
        );
    }

    /// One pixel as RGBA f32 (transparent black outside the bounds).
    pub fn pixel(&self, x: i32, y: i32) -> [f32; 4] {
        let mut p = [[0.0; 4]];
        self.read_row(y, x, &mut p);
        p[0]
    }
    pub fn set_pixel(&mut self, x: i32, y: i32, rgba: [f32; 4]) {
        self.write_row(y, x, &[rgba]);
    }

    /// All pixels as RGBA f32, rows `y1` first.
    pub fn to_rgba_f32(&self) -> Vec<[f32; 4]> {
        let b = self.layout.bounds;
        let w = b.width() as usize;
        let mut out = vec![[0.0; 4]; b.pixel_count()];
        if w > 0 {
            for (i, row) in out.chunks_exact_mut(w).enumerate() {
                self.read_row(b.y1 + i as i32, b.x1, row);
            }
        }
        out
    }

    /// The same pixels in another depth/component set (packed, same bounds and premult).
    pub fn converted(&self, depth: BitDepth, components: Components) -> HostImage {
        let mut out = HostImage::new(self.bounds(), depth, components);
        out.layout.premult = self.layout.premult;
        self.copy_pixels_into(&mut out);
        out
    }

    /// The same pixels stored with another row layout and origin (`origin` is the new lower-left
    /// corner). Depth, components and premult are kept.
    pub fn relaid(&self, origin: (i32, i32), rows: RowLayout) -> HostImage {
        let nb = self.bounds().moved_to(origin.0, origin.1);
        let mut out = HostImage::with_rows(nb, self.depth(), self.components(), rows);
        out.layout.premult = self.layout.premult;
        let dy = nb.y1 - self.bounds().y1;
        let b = self.bounds();
        for y in b.y1..b.y2 {
            out.row_bytes_mut(y + dy).copy_from_slice(self.row(y));
        }
        out
    }

    /// Copies the overlap of the two bounds from `self` into `dst`, converting depth/components.
    pub fn copy_pixels_into(&self, dst: &mut HostImage) {
        self.copy_pixels_into_threaded(dst, 1);
    }

    /// As `copy_pixels_into`, converting row bands on up to `threads` threads (the host's
    /// per-frame input conversion is on the render path).
    pub fn copy_pixels_into_threaded(&self, dst: &mut HostImage, threads: usize) {
        let r = self.bounds().intersect(&dst.bounds());
        if r.is_empty() {
            return;
        }
        let same = self.depth() == dst.depth() && self.components() == dst.components();
        let (db, dl) = (dst.bounds(), dst.layout);
        let pb_src = self.layout.pixel_bytes();
        let pb_dst = dl.pixel_bytes();
        let width = r.width() as usize;
        let copy_row = |y: i32, row: &mut [u8], buf: &mut Vec<[f32; 4]>| {
            let d0 = (r.x1 - db.x1) as usize * pb_dst;
            let out = &mut row[d0..d0 + width * pb_dst];
            if same {
                let s0 = (r.x1 - self.bounds().x1) as usize * pb_src;
                out.copy_from_slice(&self.row(y)[s0..s0 + width * pb_src]);
            } else {
                buf.resize(width, [0.0; 4]);
                self.read_row(y, r.x1, buf);
                encode(buf, dl.depth, dl.components, out);
            }
        };
        // Each row's bytes (with padding) form one `stride` chunk of storage, in memory order:
        // y1 first when top-down, y2 - 1 first when bottom-up.
        let stride = dl.row_bytes.unsigned_abs();
        let rows = db.height() as usize;
        let start = dst.start;
        let bottom_up = dl.row_bytes < 0;
        let first_in_memory = if bottom_up {
            start - stride * (rows - 1)
        } else {
            start
        };
        let storage =
            &mut dst.storage_bytes_mut()[first_in_memory..first_in_memory + stride * rows];
        let y_of = |i: usize| {
            if bottom_up {
                db.y2 - 1 - i as i32
            } else {
                db.y1 + i as i32
            }
        };
        let threads = threads.clamp(1, 16);
        let band = rows.div_ceil(threads).max(1);
        if threads == 1 || rows < 64 {
            let mut buf = Vec::new();
            for (i, row) in storage.chunks_mut(stride).enumerate() {
                let y = y_of(i);
                if y >= r.y1 && y < r.y2 {
                    copy_row(y, row, &mut buf);
                }
            }
            return;
        }
        std::thread::scope(|s| {
            for (b, chunk) in storage.chunks_mut(stride * band).enumerate() {
                let copy_row = &copy_row;
                let y_of = &y_of;
                s.spawn(move || {
                    let mut buf = Vec::new();
                    for (i, row) in chunk.chunks_mut(stride).enumerate() {
                        let y = y_of(b * band + i);
                        if y >= r.y1 && y < r.y2 {
                            copy_row(y, row, &mut buf);
                        }
                    }
                });
            }
        });
    }

    /// Largest absolute per-channel difference over the overlap of two images' bounds, compared
    /// as RGBA f32 (both images' channel sets, missing channels read as the convention above).
    pub fn max_abs_diff(&self, other: &HostImage) -> f32 {
        let r = self.bounds().intersect(&other.bounds());
        let mut a = vec![[0.0f32; 4]; r.width() as usize];
        let mut b = vec![[0.0f32; 4]; r.width() as usize];
        let mut worst = 0.0f32;
        for y in r.y1..r.y2 {
            self.read_row(y, r.x1, &mut a);
            other.read_row(y, r.x1, &mut b);
            for (p, q) in a.iter().zip(&b) {
                for c in 0..4 {
                    let d = (p[c] - q[c]).abs();
                    // NaN on one side only is the worst difference there is.
                    if d.is_nan() && !(p[c].is_nan() && q[c].is_nan()) {
                        return f32::INFINITY;
                    }
                    if d > worst {
                        worst = d;
                    }
                }
            }
        }
        worst
    }

    /// True when both images have the same bounds, depth, components and identical pixel bytes
    /// (row padding and memory order are ignored).
    pub fn same_pixels(&self, other: &HostImage) -> bool {
        self.bounds() == other.bounds()
            && self.depth() == other.depth()
            && self.components() == other.components()
            && self.to_packed_bytes() == other.to_packed_bytes()
    }
}

fn decode(src: &[u8], depth: BitDepth, components: Components, out: &mut [[f32; 4]]) {
    // One monomorphised loop per depth and channel count keeps the per-channel match out of
    // the inner loop (host-side conversion is on the per-frame path).
    match depth {
        BitDepth::Byte => decode_with::<1>(src, components, out, |b| b[0] as f32 * (1.0 / 255.0)),
        BitDepth::Short => decode_with::<2>(src, components, out, |b| {
            u16::from_ne_bytes([b[0], b[1]]) as f32 * (1.0 / 65535.0)
        }),
        BitDepth::Half => decode_with::<2>(src, components, out, |b| {
            f16::from_bits(u16::from_ne_bytes([b[0], b[1]])).to_f32()
        }),
        BitDepth::Float => decode_with::<4>(src, components, out, |b| {
            f32::from_ne_bytes([b[0], b[1], b[2], b[3]])
        }),
    }
}

#[inline(always)]
fn decode_with<const BPC: usize>(
    src: &[u8],
    components: Components,
    out: &mut [[f32; 4]],
    load: impl Fn(&[u8]) -> f32,
) {
    match components {
        Components::Rgba => {
            for (o, s) in out.iter_mut().zip(src.chunks_exact(4 * BPC)) {
                *o = [
                    load(&s[..BPC]),
                    load(&s[BPC..2 * BPC]),
                    load(&s[2 * BPC..3 * BPC]),
                    load(&s[3 * BPC..]),
                ];
            }
        }
        Components::Rgb => {
            for (o, s) in out.iter_mut().zip(src.chunks_exact(3 * BPC)) {
                *o = [
                    load(&s[..BPC]),
                    load(&s[BPC..2 * BPC]),
                    load(&s[2 * BPC..]),
                    1.0,
                ];
            }
        }
        Components::Alpha => {
            for (o, s) in out.iter_mut().zip(src.chunks_exact(BPC)) {
                *o = [0.0, 0.0, 0.0, load(s)];
            }
        }
    }
}

/// Float to integer code value: clamp to 0..1, round half up; NaN becomes 0.
pub fn quantize(v: f32, max: f32) -> f32 {
    let v = if v.is_nan() { 0.0 } else { v.clamp(0.0, 1.0) };
    (v * max + 0.5).floor()
}

fn encode(src: &[[f32; 4]], depth: BitDepth, components: Components, dst: &mut [u8]) {
    match depth {
        BitDepth::Byte => {
            encode_with::<1>(src, components, dst, |b, v| b[0] = quantize(v, 255.0) as u8)
        }
        BitDepth::Short => encode_with::<2>(src, components, dst, |b, v| {
            b.copy_from_slice(&(quantize(v, 65535.0) as u16).to_ne_bytes())
        }),
        BitDepth::Half => encode_with::<2>(src, components, dst, |b, v| {
            b.copy_from_slice(&f16::from_f32(v).to_bits().to_ne_bytes())
        }),
        BitDepth::Float => encode_with::<4>(src, components, dst, |b, v| {
            b.copy_from_slice(&v.to_ne_bytes())
        }),
    }
}

#[inline(always)]
fn encode_with<const BPC: usize>(
    src: &[[f32; 4]],
    components: Components,
    dst: &mut [u8],
    store: impl Fn(&mut [u8], f32),
) {
    let map = components.channel_map();
    let nc = map.len();
    for (d, s) in dst.chunks_exact_mut(BPC * nc).zip(src) {
        for (i, &c) in map.iter().enumerate() {
            store(&mut d[i * BPC..(i + 1) * BPC], s[c]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn premultiplication_strings_are_the_ofx_headers_values() {
        // The macro names (kOfxImagePreMultiplied) differ from their values
        // ("OfxImageAlphaPremultiplied"); a plugin compares values.
        use crate::props::name;
        use ofx_sys::*;
        assert_eq!(Premult::Opaque.ofx_name(), name(kOfxImageOpaque));
        assert_eq!(
            Premult::PreMultiplied.ofx_name(),
            name(kOfxImagePreMultiplied)
        );
        assert_eq!(
            Premult::UnPreMultiplied.ofx_name(),
            name(kOfxImageUnPreMultiplied)
        );
    }

    fn ramp(bounds: Rect) -> Vec<[f32; 4]> {
        let mut v = Vec::new();
        for y in bounds.y1..bounds.y2 {
            for x in bounds.x1..bounds.x2 {
                let f = (x - bounds.x1) as f32 / 16.0 + (y - bounds.y1) as f32 / 64.0;
                v.push([f.fract(), 0.25, 1.0 - f.fract(), 0.5]);
            }
        }
        v
    }

    #[test]
    fn byte_round_trip_is_exact_on_code_values() {
        let b = Rect::new(-7, 13, 9, 20);
        let codes: Vec<u8> = (0..b.pixel_count()).map(|i| (i * 7 % 256) as u8).collect();
        let px: Vec<[f32; 4]> = codes
            .iter()
            .map(|&c| [c as f32 / 255.0, 1.0 - c as f32 / 255.0, 0.0, 1.0])
            .collect();
        let img = HostImage::from_rgba_f32(b, BitDepth::Byte, Components::Rgba, &px).unwrap();
        let bytes = img.to_packed_bytes();
        for (i, &c) in codes.iter().enumerate() {
            assert_eq!(&bytes[4 * i..4 * i + 4], &[c, 255 - c, 0, 255]);
        }
        let back =
            HostImage::from_rgba_f32(b, BitDepth::Byte, Components::Rgba, &img.to_rgba_f32())
                .unwrap();
        assert!(back.same_pixels(&img));
    }

    #[test]
    fn relayout_keeps_pixels_and_changes_memory_order() {
        let b = Rect::new(0, 0, 5, 4);
        let img = HostImage::from_rgba_f32(b, BitDepth::Float, Components::Rgb, &ramp(b)).unwrap();
        let flipped = img.relaid(
            (-7, 13),
            RowLayout {
                padding_bytes: 12,
                bottom_up: true,
            },
        );
        assert_eq!(flipped.bounds(), Rect::new(-7, 13, -2, 17));
        assert_eq!(flipped.row_bytes(), -(5 * 12 + 12));
        assert_eq!(flipped.to_packed_bytes(), img.to_packed_bytes());
        // The first row in memory of a bottom-up image is its top row.
        let top = flipped.row(16).to_vec();
        // SAFETY: the pointer to row y1 minus 3 strides is the start of storage for 4 rows.
        let first = unsafe {
            std::slice::from_raw_parts(flipped.data_ptr().offset(3 * flipped.row_bytes()), 60)
        };
        assert_eq!(first, &top[..]);
    }

    #[test]
    fn rgb_reads_opaque_and_alpha_reads_black() {
        let b = Rect::from_size(2, 1);
        let px = [[0.2, 0.4, 0.6, 0.3]; 2];
        let rgb = HostImage::from_rgba_f32(b, BitDepth::Float, Components::Rgb, &px).unwrap();
        assert_eq!(rgb.pixel(0, 0), [0.2, 0.4, 0.6, 1.0]);
        let a = HostImage::from_rgba_f32(b, BitDepth::Float, Components::Alpha, &px).unwrap();
        assert_eq!(a.pixel(1, 0), [0.0, 0.0, 0.0, 0.3]);
        assert_eq!(a.pixel(2, 0), [0.0; 4]);
    }

    #[test]
    fn integer_depths_clamp_and_round_half_up() {
        assert_eq!(quantize(0.5, 255.0), 128.0);
        assert_eq!(quantize(-1.0, 255.0), 0.0);
        assert_eq!(quantize(2.0, 65535.0), 65535.0);
        assert_eq!(quantize(f32::NAN, 255.0), 0.0);
    }

    #[test]
    fn threaded_conversion_equals_single_threaded_for_every_layout() {
        let b = Rect::new(-3, 5, 77, 205);
        let src = HostImage::from_rgba_f32(b, BitDepth::Float, Components::Rgba, &ramp(b)).unwrap();
        for rows in [
            RowLayout::default(),
            RowLayout {
                padding_bytes: 7,
                bottom_up: true,
            },
            RowLayout {
                padding_bytes: 0,
                bottom_up: true,
            },
        ] {
            for (depth, comps) in [
                (BitDepth::Byte, Components::Rgb),
                (BitDepth::Half, Components::Rgba),
                (BitDepth::Float, Components::Rgba),
            ] {
                let dst_bounds = Rect::new(0, 0, 60, 150);
                let mut one = HostImage::with_rows(dst_bounds, depth, comps, rows);
                let mut many = HostImage::with_rows(dst_bounds, depth, comps, rows);
                src.copy_pixels_into(&mut one);
                src.copy_pixels_into_threaded(&mut many, 4);
                assert!(one.same_pixels(&many), "{rows:?} {depth:?} {comps:?}");
                let x = src.pixel(10, 100);
                let y = one.pixel(10, 100);
                assert!((x[0] - y[0]).abs() < 3e-3, "{x:?} {y:?}");
            }
        }
    }

    #[test]
    fn packed_bytes_length_is_checked() {
        let e = HostImage::from_packed_bytes(
            Rect::from_size(2, 2),
            BitDepth::Short,
            Components::Rgb,
            &[0; 23],
        );
        assert!(matches!(
            e,
            Err(ImageError::WrongByteCount { needed: 24, .. })
        ));
    }
}
