//! Clips and images. An [`Image`] is released when dropped, on every path (errors, panics,
//! early returns), so a host never leaks an image because a render failed.

use crate::host::Host;
use crate::props::PropSet;
use crate::status::{Error, Result, Status};
use crate::{name, sys, RectD, RectI};
use std::ffi::{c_void, CStr};

/// Channel storage a host hands over (`kOfxImageEffectPropPixelDepth`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BitDepth {
    Byte,
    Short,
    Half,
    Float,
}

impl BitDepth {
    pub fn name(self) -> &'static CStr {
        match self {
            BitDepth::Byte => name!(kOfxBitDepthByte),
            BitDepth::Short => name!(kOfxBitDepthShort),
            BitDepth::Half => name!(kOfxBitDepthHalf),
            BitDepth::Float => name!(kOfxBitDepthFloat),
        }
    }
    pub fn parse(s: &str) -> Result<BitDepth> {
        [
            BitDepth::Byte,
            BitDepth::Short,
            BitDepth::Half,
            BitDepth::Float,
        ]
        .into_iter()
        .find(|d| d.name().to_str() == Ok(s))
        .ok_or_else(|| {
            Error::unsupported(format!(
                "pixel depth '{s}' is not supported: use byte, short, half or float images"
            ))
        })
    }
    pub fn bytes(self) -> usize {
        match self {
            BitDepth::Byte => 1,
            BitDepth::Short | BitDepth::Half => 2,
            BitDepth::Float => 4,
        }
    }
}

/// Channels per pixel (`kOfxImageEffectPropComponents`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageComponents {
    Rgba,
    Rgb,
    Alpha,
}

impl ImageComponents {
    pub fn name(self) -> &'static CStr {
        match self {
            ImageComponents::Rgba => name!(kOfxImageComponentRGBA),
            ImageComponents::Rgb => name!(kOfxImageComponentRGB),
            ImageComponents::Alpha => name!(kOfxImageComponentAlpha),
        }
    }
    pub fn parse(s: &str) -> Result<ImageComponents> {
        [
            ImageComponents::Rgba,
            ImageComponents::Rgb,
            ImageComponents::Alpha,
        ]
        .into_iter()
        .find(|c| c.name().to_str() == Ok(s))
        .ok_or_else(|| {
            Error::unsupported(format!(
                "image components '{s}' are not supported: use RGBA, RGB or Alpha"
            ))
        })
    }
    pub fn count(self) -> usize {
        match self {
            ImageComponents::Rgba => 4,
            ImageComponents::Rgb => 3,
            ImageComponents::Alpha => 1,
        }
    }
}

/// `kOfxImageEffectPropPreMultiplication`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Premultiplication {
    Opaque,
    Premultiplied,
    Unpremultiplied,
}

impl Premultiplication {
    pub fn name(self) -> &'static CStr {
        match self {
            Premultiplication::Opaque => name!(kOfxImageOpaque),
            Premultiplication::Premultiplied => name!(kOfxImagePreMultiplied),
            Premultiplication::Unpremultiplied => name!(kOfxImageUnPreMultiplied),
        }
    }
    /// Unknown strings read as premultiplied, the OFX default for RGBA.
    pub fn parse(s: &str) -> Premultiplication {
        debug_assert_eq!(
            Premultiplication::Unpremultiplied.name().to_bytes(),
            b"OfxImageAlphaUnPremultiplied"
        );
        if s == "OfxImageOpaque" {
            Premultiplication::Opaque
        } else if s == "OfxImageAlphaUnPremultiplied" {
            Premultiplication::Unpremultiplied
        } else {
            Premultiplication::Premultiplied
        }
    }
}

/// A clip being defined in describeInContext.
pub struct ClipDescriptor {
    props: PropSet,
}

impl ClipDescriptor {
    pub(crate) fn new(props: PropSet) -> Self {
        ClipDescriptor { props }
    }
    pub fn props(&self) -> &PropSet {
        &self.props
    }
    pub fn supported_components(&self, comps: &[ImageComponents]) -> Result<&Self> {
        let names: Vec<&CStr> = comps.iter().map(|c| c.name()).collect();
        self.props
            .set_strings(name!(kOfxImageEffectPropSupportedComponents), &names)?;
        Ok(self)
    }
    pub fn supports_tiles(&self, tiles: bool) -> Result<&Self> {
        self.props
            .set_bool(name!(kOfxImageEffectPropSupportsTiles), 0, tiles)?;
        Ok(self)
    }
    pub fn temporal_access(&self, temporal: bool) -> Result<&Self> {
        self.props
            .set_bool(name!(kOfxImageEffectPropTemporalClipAccess), 0, temporal)?;
        Ok(self)
    }
    pub fn optional(&self, optional: bool) -> Result<&Self> {
        self.props
            .set_bool(name!(kOfxImageClipPropOptional), 0, optional)?;
        Ok(self)
    }
    pub fn is_mask(&self, mask: bool) -> Result<&Self> {
        self.props
            .set_bool(name!(kOfxImageClipPropIsMask), 0, mask)?;
        Ok(self)
    }
    pub fn label(&self, label: &str) -> Result<&Self> {
        self.props.set_string(name!(kOfxPropLabel), 0, label)?;
        Ok(self)
    }
}

/// An instance's clip.
#[derive(Clone, Copy)]
pub struct Clip {
    handle: sys::OfxImageClipHandle,
    props: PropSet,
    host: Host,
}

// SAFETY: an opaque host handle; OFX lets render threads fetch images from clips.
unsafe impl Send for Clip {}
unsafe impl Sync for Clip {}

impl Clip {
    pub(crate) fn new(handle: sys::OfxImageClipHandle, props: PropSet, host: Host) -> Self {
        Clip {
            handle,
            props,
            host,
        }
    }
    pub fn props(&self) -> &PropSet {
        &self.props
    }
    /// Whether something is plugged in. Resolve reports every clip connected yet may still hand
    /// back no image, so callers must handle `get_image` returning `None` regardless.
    pub fn connected(&self) -> bool {
        self.props
            .get_int_opt(name!(kOfxImageClipPropConnected), 0)
            .unwrap_or(1)
            != 0
    }
    pub fn pixel_depth(&self) -> Result<BitDepth> {
        BitDepth::parse(
            &self
                .props
                .get_string(name!(kOfxImageEffectPropPixelDepth), 0)?,
        )
    }
    pub fn components(&self) -> Result<ImageComponents> {
        ImageComponents::parse(
            &self
                .props
                .get_string(name!(kOfxImageEffectPropComponents), 0)?,
        )
    }
    pub fn premultiplication(&self) -> Premultiplication {
        self.props
            .get_string_opt(name!(kOfxImageEffectPropPreMultiplication), 0)
            .map(|s| Premultiplication::parse(&s))
            .unwrap_or(Premultiplication::Premultiplied)
    }
    pub fn pixel_aspect(&self) -> f64 {
        self.props
            .get_double_opt(name!(kOfxImagePropPixelAspectRatio), 0)
            .filter(|p| *p > 0.0)
            .unwrap_or(1.0)
    }

    /// The clip's region of definition at `time`, canonical coordinates.
    pub fn region_of_definition(&self, time: f64) -> Result<RectD> {
        let f = self
            .host
            .image_effect
            .clipGetRegionOfDefinition
            .ok_or_else(|| {
                Error::missing_host_feature(
                    "the image effect suite lacks clipGetRegionOfDefinition",
                )
            })?;
        let mut r = RectD {
            x1: 0.0,
            y1: 0.0,
            x2: 0.0,
            y2: 0.0,
        };
        // SAFETY: valid clip handle; r outlives the call.
        Error::check(unsafe { f(self.handle, time, &mut r) }, || {
            "getting a clip's region of definition".into()
        })?;
        Ok(r)
    }

    /// Fetches the image at `time` (optionally only `region`, canonical). `Ok(None)` when the
    /// host has no image (unconnected, or Resolve's NULL images); errors on a host failure.
    pub fn get_image(&self, time: f64, region: Option<RectD>) -> Result<Option<Image>> {
        let f = self.host.image_effect.clipGetImage.ok_or_else(|| {
            Error::missing_host_feature("the image effect suite lacks clipGetImage")
        })?;
        let mut img: sys::OfxPropertySetHandle = std::ptr::null_mut();
        let region_ptr = region
            .as_ref()
            .map_or(std::ptr::null(), |r| r as *const RectD);
        // SAFETY: valid clip handle; region is null or points at a live RectD; img outlives it.
        let code = unsafe { f(self.handle, time, region_ptr, &mut img) };
        match Status::from_code(code) {
            Status::Ok if !img.is_null() => {
                let image = Image {
                    props: PropSet::new(img, self.host.property),
                    host: self.host,
                    released: false,
                };
                Ok(Some(image))
            }
            Status::Ok | Status::Failed => Ok(None), // "Failed" = no image at this time (spec)
            s => Err(Error::new(s, "fetching an image from a clip")),
        }
    }
}

/// An image fetched from a clip; released on drop.
pub struct Image {
    props: PropSet,
    host: Host,
    released: bool,
}

// SAFETY: an image is host memory plus a property handle; OFX permits using it on the render
// thread that fetched it and handing its pixels to worker threads for the render's duration.
unsafe impl Send for Image {}
unsafe impl Sync for Image {}

/// Everything needed to address an image's pixels, validated.
#[derive(Debug, Clone, Copy)]
pub struct ImageInfo {
    pub data: *mut c_void,
    /// Pixel bounds (render-scaled), with any origin.
    pub bounds: RectI,
    pub row_bytes: isize,
    pub depth: BitDepth,
    pub components: ImageComponents,
    pub premultiplication: Premultiplication,
    pub pixel_aspect: f64,
    pub render_scale: [f64; 2],
}

impl Image {
    pub fn props(&self) -> &PropSet {
        &self.props
    }

    /// Reads and checks the image's description: unsupported depths/components, a null data
    /// pointer with non-empty bounds, or rows narrower than the bounds are errors.
    pub fn info(&self) -> Result<ImageInfo> {
        ImageInfo::decode(&self.props)
    }
}

impl ImageInfo {
    /// Decodes an image property set (see [`Image::info`]).
    pub fn decode(p: &PropSet) -> Result<ImageInfo> {
        let data = p.get_pointer(name!(kOfxImagePropData), 0)?;
        let b = p.get_ints::<4>(name!(kOfxImagePropBounds))?;
        let bounds = RectI {
            x1: b[0],
            y1: b[1],
            x2: b[2],
            y2: b[3],
        };
        let row_bytes = p.get_int(name!(kOfxImagePropRowBytes), 0)? as isize;
        let depth = BitDepth::parse(&p.get_string(name!(kOfxImageEffectPropPixelDepth), 0)?)?;
        let components =
            ImageComponents::parse(&p.get_string(name!(kOfxImageEffectPropComponents), 0)?)?;
        let premultiplication = p
            .get_string_opt(name!(kOfxImageEffectPropPreMultiplication), 0)
            .map(|s| Premultiplication::parse(&s))
            .unwrap_or(Premultiplication::Premultiplied);
        let pixel_aspect = p
            .get_double_opt(name!(kOfxImagePropPixelAspectRatio), 0)
            .filter(|v| *v > 0.0)
            .unwrap_or(1.0);
        let render_scale = [
            p.get_double_opt(name!(kOfxImageEffectPropRenderScale), 0)
                .filter(|v| *v > 0.0)
                .unwrap_or(1.0),
            p.get_double_opt(name!(kOfxImageEffectPropRenderScale), 1)
                .filter(|v| *v > 0.0)
                .unwrap_or(1.0),
        ];
        if bounds.x2 < bounds.x1 || bounds.y2 < bounds.y1 {
            return Err(Error::value(format!(
                "the host gave an image with inverted bounds ({}, {})-({}, {})",
                bounds.x1, bounds.y1, bounds.x2, bounds.y2
            )));
        }
        let empty = bounds.x2 == bounds.x1 || bounds.y2 == bounds.y1;
        if data.is_null() && !empty {
            return Err(Error::value("the host gave an image with no pixel data"));
        }
        let min_row = (bounds.x2 - bounds.x1) as usize * depth.bytes() * components.count();
        if !empty && (bounds.y2 - bounds.y1) > 1 && row_bytes.unsigned_abs() < min_row {
            return Err(Error::value(format!(
                "the host gave an image whose rows ({row_bytes} bytes) are shorter than its width ({min_row} bytes)"
            )));
        }
        Ok(ImageInfo {
            data,
            bounds,
            row_bytes,
            depth,
            components,
            premultiplication,
            pixel_aspect,
            render_scale,
        })
    }
}

impl Image {
    fn release(&mut self) {
        if self.released {
            return;
        }
        self.released = true;
        if let Some(f) = self.host.image_effect.clipReleaseImage {
            // SAFETY: the handle came from clipGetImage and is released exactly once.
            let code = unsafe { f(self.props.handle()) };
            if code != 0 {
                log::warn!("the host failed to release an image (status {code})");
            }
        }
    }
}

impl Drop for Image {
    fn drop(&mut self) {
        self.release();
    }
}
