//! One encoded image (PNG, JPEG, WebP, BMP or GIF's first frame) as one row
//! of a model input, as its `inputs` declaration says: decoded by content,
//! to 8-bit RGB, resized (`resize.rs`), converted to the declared channels,
//! normalised and laid out.
//!
//! The steps and their order are a specification a Python/Pillow pipeline
//! reproduces within 1e-5 (README: "Binary bodies"): decode -> RGB8 ->
//! gray plane or three planes -> resize -> crop -> channel order ->
//! `(p * scale - mean[c]) / std[c]` in float32 -> NCHW or NHWC. What the
//! model's signature allows is checked once, in [`ImageInput::new`]; a
//! request's image is untrusted, so its size is checked from its header
//! before any pixel buffer exists and nothing here panics on its content.

use std::io::Cursor;
use std::ops::Range;

use ::image::codecs::bmp::BmpDecoder;
use ::image::codecs::gif::GifDecoder;
use ::image::codecs::jpeg::JpegDecoder;
use ::image::codecs::png::PngDecoder;
use ::image::codecs::webp::WebPDecoder;
use ::image::{DynamicImage, ImageDecoder, ImageError, ImageFormat, Limits, RgbImage};
use inferd_config::{Color, DecoderKind, Filter, ImageFormatName, InputDecoder, Layout, Resize};
use inferd_tensor::signature::format_dims;
use inferd_tensor::{DType, Dim, TensorData, TensorSpec};

use crate::error::{DeclarationError, MediaError};
use crate::raw::element_size;
use crate::resize::{self, Plane};

/// Bytes per pixel the decode budget allows: the widest decoded pixel of
/// the five formats (16-bit RGBA PNG). With it, every image within
/// `maxWidth` x `maxHeight` decodes, and a header that lies about its
/// pixel type cannot buy more memory than that.
const DECODE_BYTES_PER_PIXEL: u64 = 8;

/// An image input's declaration checked against the model, ready to turn
/// request bodies into rows. Built once at start-up.
#[derive(Debug)]
pub struct ImageInput {
    formats: Vec<ImageFormatName>,
    resize: Option<Plan>,
    color: Color,
    layout: Layout,
    dtype: DType,
    max_width: u32,
    max_height: u32,
    /// Without `resize`, the model's fixed width and height, which the
    /// image must have.
    width: Option<usize>,
    height: Option<usize>,
    scale: f32,
    mean: Vec<f32>,
    std: Vec<f32>,
    /// Per output channel, the normalised value of each 8-bit sample: the
    /// same float32 arithmetic as per pixel, done 256 times at start-up.
    table: Vec<f32>,
}

#[derive(Debug)]
struct Plan {
    resize: Resize,
    size: Size,
}

#[derive(Debug, Clone, Copy)]
enum Size {
    Exact {
        width: usize,
        height: usize,
    },
    ShorterSide {
        side: u32,
        crop: Option<(usize, usize)>,
    },
}

/// Where each model dimension sits in a rank-4 shape.
struct Axes {
    channels: usize,
    height: usize,
    width: usize,
}

impl Axes {
    fn of(layout: Layout) -> Axes {
        match layout {
            Layout::Nchw => Axes {
                channels: 1,
                height: 2,
                width: 3,
            },
            Layout::Nhwc => Axes {
                channels: 3,
                height: 1,
                width: 2,
            },
        }
    }
}

impl ImageInput {
    /// Checks the declaration against the model input: rank 4; the channel
    /// dim (by layout) fixed to `color.channels()` or free; H and W, when
    /// fixed, equal to the resize's output size (width/height, or crop);
    /// with shorterSide and no crop, H and W free; without resize, any.
    /// dtype float32, float64, or uint8 (uint8 only with no scale/mean/std
    /// and filter nearest or no resize). Errors name the key relative to
    /// the input (`resize.width`, `color`, `layout`) and say what the model
    /// takes.
    pub fn new(decl: &InputDecoder, spec: &TensorSpec) -> Result<ImageInput, DeclarationError> {
        if decl.decoder != DecoderKind::Image {
            return Err(DeclarationError::new(
                "decoder",
                format!("is {}, not image", decl.decoder.name()),
            ));
        }
        // What needs no model (sizes, lengths, divisors) is the config's
        // check; a declaration built in code has not been through it.
        decl.check()
            .map_err(|(key, reason)| DeclarationError::new(key, reason))?;
        let formats = decl.formats();
        let color = decl.color();
        let layout = decl.layout();
        let channels = color.channels();
        let max_width = decl.max_width();
        let max_height = decl.max_height();
        let plan = decl.resize.as_ref().map(plan_of).transpose()?;
        let scale = decl.scale.unwrap_or(1.0);
        let mean = decl.mean.clone().unwrap_or_else(|| vec![0.0; channels]);
        let std = decl.std.clone().unwrap_or_else(|| vec![1.0; channels]);

        let (width, height) = match spec.shape.as_deref() {
            // An undeclared shape takes any: the image decides.
            None => (None, None),
            Some(dims) => check_shape(dims, spec, color, layout, plan.as_ref())?,
        };
        if let Some(Plan {
            size: Size::ShorterSide { side, crop: None },
            ..
        }) = &plan
        {
            let most = max_width.max(max_height);
            if *side > most {
                return Err(DeclarationError::new(
                    "resize.shorterSide",
                    format!(
                        "is {side}, and a resized image may be at most {most} pixels a side (the larger of maxWidth and maxHeight), so every image would be refused: lower it, add a crop, or raise maxWidth/maxHeight"
                    ),
                ));
            }
        }

        match spec.dtype {
            DType::F32 | DType::F64 => {}
            DType::U8 => {
                for (key, given) in [
                    ("scale", decl.scale.is_some()),
                    ("mean", decl.mean.is_some()),
                    ("std", decl.std.is_some()),
                ] {
                    if given {
                        return Err(DeclarationError::new(
                            key,
                            format!(
                                "the model's input '{}' is uint8, which takes the pixels as they are; scale, mean and std need a float32 or float64 input",
                                spec.name
                            ),
                        ));
                    }
                }
                if let Some(plan) = &plan
                    && plan.resize.filter == Filter::Bilinear
                {
                    return Err(DeclarationError::new(
                        "resize.filter",
                        format!(
                            "bilinear makes fractional values, and the model's input '{}' is uint8: use nearest",
                            spec.name
                        ),
                    ));
                }
            }
            other => {
                return Err(DeclarationError::new(
                    "decoder",
                    format!(
                        "the model's input '{}' is {other}; an image becomes float32, float64 or uint8 values",
                        spec.name
                    ),
                ));
            }
        }

        let table = (0..channels)
            .flat_map(|c| (0..=255u8).map(move |p| (c, p)))
            .map(|(c, p)| normalise(f32::from(p), scale, mean[c], std[c]))
            .collect();
        Ok(ImageInput {
            formats,
            resize: plan,
            color,
            layout,
            dtype: spec.dtype,
            max_width,
            max_height,
            width,
            height,
            scale,
            mean,
            std,
            table,
        })
    }

    /// The formats this input accepts, known by content.
    pub fn formats(&self) -> &[ImageFormatName] {
        &self.formats
    }

    /// The element type of the rows [`ImageInput::decode_row`] makes.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// The most bytes one image's row takes, for the memory budget before
    /// anything is decoded: the resize's size (its crop), else the model's
    /// fixed size, else the largest image the limits let in.
    pub fn most_row_bytes(&self) -> u64 {
        let (max_width, max_height) = (u64::from(self.max_width), u64::from(self.max_height));
        let (width, height) = match self.resize.as_ref().map(|plan| plan.size) {
            Some(Size::Exact { width, height }) => (width as u64, height as u64),
            Some(Size::ShorterSide {
                crop: Some((width, height)),
                ..
            }) => (width as u64, height as u64),
            // geometry() refuses a resized side past the larger limit.
            Some(Size::ShorterSide { crop: None, .. }) => {
                let most = max_width.max(max_height);
                (most, most)
            }
            None => (
                self.width.map_or(max_width, |w| w as u64),
                self.height.map_or(max_height, |h| h as u64),
            ),
        };
        (width * height)
            .saturating_mul(self.color.channels() as u64)
            .saturating_mul(element_size(self.dtype) as u64)
    }

    /// Decodes one encoded image into one row: its values, of shape
    /// `[C, H, W]` (NCHW) or `[H, W, C]` (NHWC), appended to `out` (a
    /// [`TensorData`] of [`ImageInput::dtype`]); returns that row shape. On
    /// an error nothing is appended.
    pub fn decode_row(&self, bytes: &[u8], out: &mut TensorData) -> Result<[usize; 3], MediaError> {
        if out.dtype() != self.dtype {
            // A caller's mistake, not the client's; refused rather than
            // panicking on the request path.
            return Err(MediaError::bad_request(format!(
                "the row buffer holds {}, and this input makes {}",
                out.dtype(),
                self.dtype
            )));
        }
        let format = self.sniff(bytes)?;
        // Padding some writers leave after the end marker is not a cut.
        let padded_end = bytes
            .iter()
            .rposition(|&b| b != 0)
            .map_or(&bytes[..0], |last| &bytes[..=last]);
        if format == ImageFormatName::Jpeg && !padded_end.ends_with(&[0xFF, 0xD9]) {
            // zune-jpeg decodes a truncated JPEG, filling what is missing;
            // Pillow refuses it, and a client that sent half a file wants
            // to hear so.
            return Err(MediaError::bad_request(
                "truncated JPEG: no end-of-image marker",
            ));
        }
        let rgb = self.decode(bytes, format)?;
        let (width, height) = (rgb.width() as usize, rgb.height() as usize);
        if width == 0 || height == 0 {
            return Err(MediaError::bad_request(format!(
                "the image is {width}x{height}: it has no pixels"
            )));
        }
        let geometry = self.geometry(width, height)?;
        let channels = self.color.channels();
        let (cols, rows) = (geometry.cols.len(), geometry.rows.len());
        let shape = match self.layout {
            Layout::Nchw => [channels, rows, cols],
            Layout::Nhwc => [rows, cols, channels],
        };
        let count = channels
            .checked_mul(rows)
            .and_then(|n| n.checked_mul(cols))
            .ok_or_else(|| self.too_many(rows, cols))?;
        let filter = self
            .resize
            .as_ref()
            .map_or(Filter::Nearest, |p| p.resize.filter);
        match (filter, out) {
            (Filter::Nearest, TensorData::U8(out)) => {
                reserve(out, count).map_err(|()| self.too_many(rows, cols))?;
                self.nearest(&rgb, &geometry, shape, out, |_, p| p);
            }
            (Filter::Nearest, TensorData::F32(out)) => {
                reserve(out, count).map_err(|()| self.too_many(rows, cols))?;
                self.nearest(&rgb, &geometry, shape, out, |c, p| {
                    self.table[c * 256 + usize::from(p)]
                });
            }
            (Filter::Nearest, TensorData::F64(out)) => {
                reserve(out, count).map_err(|()| self.too_many(rows, cols))?;
                self.nearest(&rgb, &geometry, shape, out, |c, p| {
                    f64::from(self.table[c * 256 + usize::from(p)])
                });
            }
            (Filter::Bilinear, TensorData::F32(out)) if self.layout == Layout::Nchw => {
                // The planes are already NCHW: resample straight into the
                // row and normalise it in place.
                reserve(out, count).map_err(|()| self.too_many(rows, cols))?;
                let start = out.len();
                self.bilinear(&rgb, &geometry, out);
                let plane = rows * cols;
                for (at, v) in out[start..].iter_mut().enumerate() {
                    let c = at / plane;
                    *v = normalise(*v, self.scale, self.mean[c], self.std[c]);
                }
            }
            (Filter::Bilinear, TensorData::F32(out)) => {
                let planes = self.bilinear_planes(&rgb, &geometry, count)?;
                reserve(out, count).map_err(|()| self.too_many(rows, cols))?;
                emit(out, self.layout, shape, |c, y, x| {
                    self.normalised(&planes, rows, cols, c, y, x)
                });
            }
            (Filter::Bilinear, TensorData::F64(out)) => {
                let planes = self.bilinear_planes(&rgb, &geometry, count)?;
                reserve(out, count).map_err(|()| self.too_many(rows, cols))?;
                emit(out, self.layout, shape, |c, y, x| {
                    f64::from(self.normalised(&planes, rows, cols, c, y, x))
                });
            }
            // new() refuses bilinear for uint8 and every other type; the
            // buffer's type was checked against self.dtype above.
            (_, out) => {
                return Err(MediaError::bad_request(format!(
                    "this input cannot make {} rows",
                    out.dtype()
                )));
            }
        }
        Ok(shape)
    }

    /// The format, from the body's first bytes (never its name).
    fn sniff(&self, bytes: &[u8]) -> Result<ImageFormatName, MediaError> {
        let Ok(found) = ::image::guess_format(bytes) else {
            let mut message = format!(
                "the body is not an image this server decodes ({})",
                names(&ImageFormatName::ALL)
            );
            if self.formats != ImageFormatName::ALL {
                message.push_str(&format!("; this input takes {}", names(&self.formats)));
            }
            return Err(MediaError::unsupported(message));
        };
        let name = match found {
            ImageFormat::Png => ImageFormatName::Png,
            ImageFormat::Jpeg => ImageFormatName::Jpeg,
            ImageFormat::WebP => ImageFormatName::Webp,
            ImageFormat::Bmp => ImageFormatName::Bmp,
            ImageFormat::Gif => ImageFormatName::Gif,
            other => {
                return Err(MediaError::unsupported(format!(
                    "the body is a {} image, which this server does not decode; this input takes {}",
                    format!("{other:?}").to_lowercase(),
                    names(&self.formats)
                )));
            }
        };
        if !self.formats.contains(&name) {
            return Err(MediaError::unsupported(format!(
                "the body is a {} image, and this input takes {}",
                name.name(),
                names(&self.formats)
            )));
        }
        Ok(name)
    }

    /// The image as 8-bit RGB, its size checked from the header first.
    fn decode(&self, bytes: &[u8], format: ImageFormatName) -> Result<RgbImage, MediaError> {
        let budget = u64::from(self.max_width)
            .saturating_mul(u64::from(self.max_height))
            .saturating_mul(DECODE_BYTES_PER_PIXEL);
        // No width or height limit yet: the PNG decoder would refuse from
        // the header without saying the size, and the message should.
        let mut limits = Limits::no_limits();
        limits.max_alloc = Some(budget);
        let mut decoder =
            open(format, bytes, limits.clone()).map_err(|e| self.image_error(e, format))?;
        let (width, height) = decoder.dimensions();
        if width > self.max_width || height > self.max_height {
            return Err(MediaError::too_large(format!(
                "the image claims {width}x{height} pixels; this input takes at most {}x{}",
                self.max_width, self.max_height
            )));
        }
        limits.max_image_width = Some(self.max_width);
        limits.max_image_height = Some(self.max_height);
        // What `ImageReader::decode` does: the pixel buffer is reserved out
        // of the budget before it is allocated, the rest left to the codec.
        limits
            .reserve(decoder.total_bytes())
            .and_then(|()| decoder.set_limits(limits))
            .map_err(|e| self.image_error(e, format))?;
        let image = DynamicImage::from_decoder(decoder).map_err(|e| self.image_error(e, format))?;
        // Alpha dropped, not composited; palette expanded (Pillow's
        // `convert("RGB")` does the same). No copy when already RGB8.
        Ok(image.into_rgb8())
    }

    fn image_error(&self, error: ImageError, format: ImageFormatName) -> MediaError {
        let format = format.name();
        match error {
            ImageError::Limits(_) => MediaError::too_large(format!(
                "the {format} image needs more memory to decode than this input allows (images of at most {}x{} pixels)",
                self.max_width, self.max_height
            )),
            ImageError::Unsupported(e) => MediaError::unsupported(format!(
                "the {format} image uses something this server does not decode: {e}"
            )),
            e => MediaError::bad_request(format!("the {format} image cannot be decoded: {e}")),
        }
    }

    /// The resized size and the window of it that becomes the row.
    fn geometry(&self, width: usize, height: usize) -> Result<Geometry, MediaError> {
        let Some(plan) = &self.resize else {
            if self.width.is_some_and(|w| w != width) || self.height.is_some_and(|h| h != height) {
                return Err(MediaError::bad_request(format!(
                    "the image is {width}x{height}, and this input takes {}; declare resize",
                    size_text(self.width, self.height)
                )));
            }
            return Ok(Geometry::whole(width, height, width, height));
        };
        match plan.size {
            Size::Exact {
                width: w,
                height: h,
            } => Ok(Geometry::whole(width, height, w, h)),
            Size::ShorterSide { side, crop } => {
                // Sizes come from a decoded image, so they fit u32.
                let (w, h) = plan.resize.target(width as u32, height as u32);
                let (w, h) = (w as usize, h as usize);
                match crop {
                    Some((cw, ch)) => {
                        let (Some(left), Some(top)) =
                            (resize::crop_offset(w, cw), resize::crop_offset(h, ch))
                        else {
                            return Err(MediaError::too_large(format!(
                                "the image is {width}x{height}; shorterSide {side} makes it {w}x{h}, too large for this server to resize"
                            )));
                        };
                        Ok(Geometry {
                            in_width: width,
                            in_height: height,
                            out_width: w,
                            out_height: h,
                            cols: left..left + cw,
                            rows: top..top + ch,
                        })
                    }
                    None => {
                        // The row is the whole resized image, whose longer
                        // side grows with the aspect: a 4096x1 image at
                        // shorterSide 224 would be 917504 wide.
                        let most = self.max_width.max(self.max_height) as usize;
                        if w > most || h > most {
                            return Err(MediaError::too_large(format!(
                                "the image is {width}x{height}; shorterSide {side} makes it {w}x{h}, and this input takes at most {most} pixels a side"
                            )));
                        }
                        Ok(Geometry::whole(width, height, w, h))
                    }
                }
            }
        }
    }

    fn too_many(&self, rows: usize, cols: usize) -> MediaError {
        MediaError::too_large(format!(
            "a {cols}x{rows} row of {} channels needs more memory than the server has",
            self.color.channels()
        ))
    }

    /// Nearest (or no) resampling, straight from the RGB8 buffer into the
    /// row: `value(channel, sample)` makes each element.
    fn nearest<T>(
        &self,
        rgb: &RgbImage,
        geometry: &Geometry,
        shape: [usize; 3],
        out: &mut Vec<T>,
        value: impl Fn(usize, u8) -> T,
    ) {
        let raw = rgb.as_raw();
        let xs: Vec<usize> =
            resize::nearest_indices(geometry.in_width, geometry.out_width, geometry.cols.clone())
                .into_iter()
                .map(|x| x * 3)
                .collect();
        let ys: Vec<usize> = resize::nearest_indices(
            geometry.in_height,
            geometry.out_height,
            geometry.rows.clone(),
        )
        .into_iter()
        .map(|y| y * geometry.in_width * 3)
        .collect();
        let color = self.color;
        emit(out, self.layout, shape, |c, y, x| {
            let at = ys[y] + xs[x];
            let sample = match color {
                Color::Rgb => raw[at + c],
                Color::Bgr => raw[at + 2 - c],
                Color::Gray => luma(raw[at], raw[at + 1], raw[at + 2]),
            };
            value(c, sample)
        });
    }

    /// The resampled planes in a buffer of their own, for a row they
    /// cannot be written into as they are (NHWC, or float64).
    fn bilinear_planes(
        &self,
        rgb: &RgbImage,
        geometry: &Geometry,
        count: usize,
    ) -> Result<Vec<f32>, MediaError> {
        let mut planes = Vec::new();
        reserve(&mut planes, count)
            .map_err(|()| self.too_many(geometry.rows.len(), geometry.cols.len()))?;
        self.bilinear(rgb, geometry, &mut planes);
        Ok(planes)
    }

    /// The element at channel `c`, row `y`, column `x` of CHW `planes`,
    /// normalised.
    #[inline]
    fn normalised(
        &self,
        planes: &[f32],
        rows: usize,
        cols: usize,
        c: usize,
        y: usize,
        x: usize,
    ) -> f32 {
        let v = planes[(c * rows + y) * cols + x];
        normalise(v, self.scale, self.mean[c], self.std[c])
    }

    /// Float bilinear resampling of each output channel, planes appended
    /// to `out` in channel order (CHW), not yet normalised.
    fn bilinear(&self, rgb: &RgbImage, geometry: &Geometry, out: &mut Vec<f32>) {
        let (width, height) = (geometry.in_width, geometry.in_height);
        let resample = |plane, out: &mut Vec<f32>| {
            resize::bilinear(
                plane,
                geometry.out_width,
                geometry.out_height,
                geometry.cols.clone(),
                geometry.rows.clone(),
                out,
            );
        };
        let raw = rgb.as_raw();
        match self.color {
            Color::Gray => {
                // Luma on the 8-bit pixels, then resampled: Pillow's
                // `convert("L")` comes before its resize.
                let luma: Vec<u8> = raw
                    .chunks_exact(3)
                    .map(|p| luma(p[0], p[1], p[2]))
                    .collect();
                resample(
                    Plane {
                        data: &luma[..],
                        width,
                        height,
                        stride: 1,
                        offset: 0,
                    },
                    out,
                );
            }
            Color::Rgb | Color::Bgr => {
                for c in 0..3 {
                    let offset = if self.color == Color::Bgr { 2 - c } else { c };
                    resample(
                        Plane {
                            data: &raw[..],
                            width,
                            height,
                            stride: 3,
                            offset,
                        },
                        out,
                    );
                }
            }
        }
    }
}

/// The input image's size, the resized size, and the window of the resized
/// image (the crop, or all of it) that becomes the row.
struct Geometry {
    in_width: usize,
    in_height: usize,
    out_width: usize,
    out_height: usize,
    cols: Range<usize>,
    rows: Range<usize>,
}

impl Geometry {
    fn whole(in_width: usize, in_height: usize, out_width: usize, out_height: usize) -> Geometry {
        Geometry {
            in_width,
            in_height,
            out_width,
            out_height,
            cols: 0..out_width,
            rows: 0..out_height,
        }
    }
}

/// The decoder of `format` over `bytes`, its header read (and nothing
/// more).
fn open<'a>(
    format: ImageFormatName,
    bytes: &'a [u8],
    limits: Limits,
) -> Result<Box<dyn ImageDecoder + 'a>, ImageError> {
    let reader = Cursor::new(bytes);
    Ok(match format {
        ImageFormatName::Png => Box::new(PngDecoder::with_limits(reader, limits)?),
        ImageFormatName::Jpeg => Box::new(JpegDecoder::new(reader)?),
        ImageFormatName::Webp => Box::new(WebPDecoder::new(reader)?),
        ImageFormatName::Bmp => Box::new(BmpDecoder::new(reader)?),
        ImageFormatName::Gif => Box::new(GifDecoder::new(reader)?),
    })
}

/// ITU-R 601-2 luma with Pillow's rounding (`convert("L")`, its `L24`).
#[inline]
fn luma(r: u8, g: u8, b: u8) -> u8 {
    ((19595 * u32::from(r) + 38470 * u32::from(g) + 7471 * u32::from(b) + 0x8000) >> 16) as u8
}

/// The specified order, in float32: `(p * scale - mean) / std`.
#[inline]
fn normalise(p: f32, scale: f32, mean: f32, std: f32) -> f32 {
    (p * scale - mean) / std
}

/// Pushes `value(channel, y, x)` for every element of a row of `shape`
/// in the layout's order.
fn emit<T>(
    out: &mut Vec<T>,
    layout: Layout,
    shape: [usize; 3],
    mut value: impl FnMut(usize, usize, usize) -> T,
) {
    match layout {
        Layout::Nchw => {
            let [channels, rows, cols] = shape;
            for c in 0..channels {
                for y in 0..rows {
                    for x in 0..cols {
                        out.push(value(c, y, x));
                    }
                }
            }
        }
        Layout::Nhwc => {
            let [rows, cols, channels] = shape;
            for y in 0..rows {
                for x in 0..cols {
                    for c in 0..channels {
                        out.push(value(c, y, x));
                    }
                }
            }
        }
    }
}

/// Room for `count` more elements, or `Err` when memory will not give it.
fn reserve<T>(out: &mut Vec<T>, count: usize) -> Result<(), ()> {
    out.try_reserve_exact(count).map_err(|_| ())
}

fn names(formats: &[ImageFormatName]) -> String {
    formats
        .iter()
        .map(|f| f.name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// `28x28`, or one side when the other is free.
fn size_text(width: Option<usize>, height: Option<usize>) -> String {
    match (width, height) {
        (Some(w), Some(h)) => format!("{w}x{h}"),
        (Some(w), None) => format!("images {w} pixels wide"),
        (None, Some(h)) => format!("images {h} pixels high"),
        (None, None) => "any size".into(),
    }
}

/// The resize as a plan (its values already checked by
/// `InputDecoder::check`).
fn plan_of(resize: &Resize) -> Result<Plan, DeclarationError> {
    let size = match (resize.width, resize.height, resize.shorter_side) {
        (Some(width), Some(height), None) => Size::Exact {
            width: width as usize,
            height: height as usize,
        },
        (None, None, Some(side)) => Size::ShorterSide {
            side,
            crop: resize.crop.map(|[w, h]| (w as usize, h as usize)),
        },
        // The check refuses every other form.
        _ => {
            return Err(DeclarationError::new(
                "resize",
                "give width and height, or shorterSide (and crop)",
            ));
        }
    };
    Ok(Plan {
        resize: resize.clone(),
        size,
    })
}

/// The model's shape checked against the declaration; the fixed width and
/// height an image must have when there is no resize.
fn check_shape(
    dims: &[Dim],
    spec: &TensorSpec,
    color: Color,
    layout: Layout,
    plan: Option<&Plan>,
) -> Result<(Option<usize>, Option<usize>), DeclarationError> {
    let shape = format_dims(dims);
    let name = &spec.name;
    if dims.len() != 4 {
        return Err(DeclarationError::new(
            "decoder",
            format!(
                "the model's input '{name}' has shape {shape}; an image becomes [N, C, H, W] (layout NCHW) or [N, H, W, C] (NHWC): use the npy or raw decoder for it"
            ),
        ));
    }
    let channels = color.channels();
    let axes = Axes::of(layout);
    let fixed = |at: usize| match dims[at] {
        Dim::Fixed(n) => Some(n),
        Dim::Free(_) => None,
    };
    if let Some(n) = fixed(axes.channels)
        && n != channels
    {
        let other = match layout {
            Layout::Nchw => Layout::Nhwc,
            Layout::Nhwc => Layout::Nchw,
        };
        let image_like = |n: Option<usize>| matches!(n, Some(1 | 3));
        if !image_like(Some(n)) && image_like(fixed(Axes::of(other).channels)) {
            return Err(DeclarationError::new(
                "layout",
                format!(
                    "is {}, and the model's input '{name}' has shape {shape}, its channels {}: declare layout {}",
                    layout.name(),
                    if other == Layout::Nhwc {
                        "last"
                    } else {
                        "first"
                    },
                    other.name()
                ),
            ));
        }
        let advice = match n {
            1 => "declare color gray".to_owned(),
            3 => "declare color rgb or bgr".to_owned(),
            _ => "an image becomes 1 channel (gray) or 3 (rgb, bgr)".to_owned(),
        };
        return Err(DeclarationError::new(
            "color",
            format!(
                "is {} ({channels} channel{}), and the model's input '{name}' takes {n} (shape {shape}, layout {}): {advice}",
                color.name(),
                if channels == 1 { "" } else { "s" },
                layout.name()
            ),
        ));
    }
    let (width, height) = (fixed(axes.width), fixed(axes.height));
    let Some(plan) = plan else {
        return Ok((width, height));
    };
    let takes = format!(
        "the model's input '{name}' takes {} (shape {shape}, layout {})",
        size_text(width, height),
        layout.name()
    );
    match plan.size {
        Size::Exact {
            width: w,
            height: h,
        } => {
            if width.is_some_and(|n| n != w) {
                return Err(DeclarationError::new(
                    "resize.width",
                    format!("is {w}, and {takes}"),
                ));
            }
            if height.is_some_and(|n| n != h) {
                return Err(DeclarationError::new(
                    "resize.height",
                    format!("is {h}, and {takes}"),
                ));
            }
        }
        Size::ShorterSide {
            crop: Some((w, h)), ..
        } => {
            if width.is_some_and(|n| n != w) || height.is_some_and(|n| n != h) {
                return Err(DeclarationError::new(
                    "resize.crop",
                    format!("is [{w}, {h}] ([width, height]), and {takes}"),
                ));
            }
        }
        Size::ShorterSide { side, crop: None } => {
            if width.is_some() || height.is_some() {
                return Err(DeclarationError::new(
                    "resize.shorterSide",
                    format!(
                        "{side} keeps each image's aspect, so the size varies, and {takes}: add a crop of that size, or give width and height"
                    ),
                ));
            }
        }
    }
    Ok((None, None))
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use ::image::codecs::bmp::BmpEncoder;
    use ::image::codecs::gif::GifEncoder;
    use ::image::codecs::jpeg::JpegEncoder;
    use ::image::codecs::png::PngEncoder;
    use ::image::codecs::webp::WebPEncoder;
    use ::image::{ExtendedColorType, ImageEncoder};
    use serde_json::json;

    use super::*;
    use crate::error::Refusal;

    fn decl(value: serde_json::Value) -> InputDecoder {
        let mut value = value;
        value["decoder"] = json!("image");
        serde_json::from_value(value).expect("a valid declaration")
    }

    /// A model input of `dtype` and shape, `None` for a free dimension.
    fn spec(dtype: DType, dims: &[Option<usize>]) -> TensorSpec {
        TensorSpec {
            name: "x".into(),
            dtype,
            shape: Some(
                dims.iter()
                    .map(|d| match d {
                        Some(n) => Dim::Fixed(*n),
                        None => Dim::Free(None),
                    })
                    .collect(),
            ),
        }
    }

    fn input(value: serde_json::Value, spec: &TensorSpec) -> ImageInput {
        ImageInput::new(&decl(value), spec).expect("a declaration that fits")
    }

    fn png(width: u32, height: u32, rgb: &[u8]) -> Vec<u8> {
        let mut bytes = Vec::new();
        PngEncoder::new(&mut bytes)
            .write_image(rgb, width, height, ExtendedColorType::Rgb8)
            .expect("encodes");
        bytes
    }

    /// A `width` x `height` RGB image whose every sample differs.
    fn pattern(width: u32, height: u32) -> Vec<u8> {
        (0..width * height * 3)
            .map(|i| ((i * 7 + i / 3) % 256) as u8)
            .collect()
    }

    fn f32_row(input: &ImageInput, bytes: &[u8]) -> (Vec<f32>, [usize; 3]) {
        let mut out = TensorData::with_capacity(DType::F32, 0);
        let shape = input.decode_row(bytes, &mut out).expect("decodes");
        let TensorData::F32(values) = out else {
            unreachable!()
        };
        (values, shape)
    }

    fn refused(input: &ImageInput, bytes: &[u8]) -> MediaError {
        let mut out = TensorData::with_capacity(input.dtype(), 0);
        let error = input.decode_row(bytes, &mut out).expect_err("refused");
        assert!(out.is_empty(), "nothing appended on an error");
        error
    }

    const ANY: Option<usize> = None;

    #[test]
    fn layouts_put_the_channels_first_or_last() {
        // 2x1: pixel 0 = (1, 2, 3), pixel 1 = (4, 5, 6).
        let body = png(2, 1, &[1, 2, 3, 4, 5, 6]);
        let nchw = input(
            json!({}),
            &spec(DType::F32, &[ANY, Some(3), Some(1), Some(2)]),
        );
        assert_eq!(
            f32_row(&nchw, &body),
            (vec![1.0, 4.0, 2.0, 5.0, 3.0, 6.0], [3, 1, 2])
        );
        let nhwc = input(
            json!({"layout": "NHWC"}),
            &spec(DType::F32, &[ANY, Some(1), Some(2), Some(3)]),
        );
        assert_eq!(
            f32_row(&nhwc, &body),
            (vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], [1, 2, 3])
        );
    }

    #[test]
    fn bgr_reverses_the_channels_before_normalising() {
        let body = png(1, 1, &[10, 20, 30]);
        // mean and std are in the model's (BGR) order.
        let bgr = input(
            json!({"color": "bgr", "mean": [1.0, 2.0, 1.0], "std": [1.0, 2.0, 9.0]}),
            &spec(DType::F32, &[ANY, Some(3), ANY, ANY]),
        );
        // (30 - 1) / 1, (20 - 2) / 2, (10 - 1) / 9.
        assert_eq!(f32_row(&bgr, &body).0, vec![29.0, 9.0, 1.0]);
    }

    #[test]
    fn gray_is_pillows_itu_601_luma() {
        // (255,0,0), (0,255,0), (0,0,255), (10,200,30), (255,255,255), (0,0,0).
        let body = png(
            6,
            1,
            &[
                255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 200, 30, 255, 255, 255, 0, 0, 0,
            ],
        );
        let gray = input(
            json!({"color": "gray"}),
            &spec(DType::U8, &[ANY, Some(1), ANY, ANY]),
        );
        let mut out = TensorData::with_capacity(DType::U8, 0);
        assert_eq!(gray.decode_row(&body, &mut out), Ok([1, 1, 6]));
        // Pillow's convert("L") of the same pixels.
        assert_eq!(out, TensorData::U8(vec![76, 150, 29, 124, 255, 0]));
    }

    #[test]
    fn normalising_is_scale_then_mean_then_std_in_float32() {
        let body = png(1, 1, &[255, 0, 51]);
        let scale = 1.0f32 / 255.0;
        let (mean, std) = ([0.485f32, 0.456, 0.406], [0.229f32, 0.224, 0.225]);
        let norm = input(
            json!({"scale": scale, "mean": mean, "std": std}),
            &spec(DType::F32, &[ANY, Some(3), Some(1), Some(1)]),
        );
        let want: Vec<f32> = [255u8, 0, 51]
            .iter()
            .enumerate()
            .map(|(c, p)| (f32::from(*p) * scale - mean[c]) / std[c])
            .collect();
        assert_eq!(f32_row(&norm, &body).0, want);
        // Numbers whose order shows: (255 * 0.5 - 10) / 4.
        let simple = input(
            json!({"scale": 0.5, "mean": [10.0, 0.0, 0.0], "std": [4.0, 1.0, 1.0]}),
            &spec(DType::F64, &[ANY, Some(3), Some(1), Some(1)]),
        );
        let mut out = TensorData::with_capacity(DType::F64, 0);
        simple.decode_row(&body, &mut out).unwrap();
        assert_eq!(out, TensorData::F64(vec![29.375, 0.0, 25.5]));
    }

    #[test]
    fn uint8_takes_the_pixels_as_they_are() {
        let pixels = pattern(3, 2);
        let raw = input(
            json!({"layout": "NHWC"}),
            &spec(DType::U8, &[ANY, Some(2), Some(3), Some(3)]),
        );
        let mut out = TensorData::with_capacity(DType::U8, 0);
        assert_eq!(raw.decode_row(&png(3, 2, &pixels), &mut out), Ok([2, 3, 3]));
        assert_eq!(out, TensorData::U8(pixels));
    }

    #[test]
    fn rows_append() {
        let one = input(
            json!({}),
            &spec(DType::F32, &[ANY, Some(3), Some(1), Some(1)]),
        );
        let mut out = TensorData::with_capacity(DType::F32, 0);
        one.decode_row(&png(1, 1, &[1, 2, 3]), &mut out).unwrap();
        one.decode_row(&png(1, 1, &[4, 5, 6]), &mut out).unwrap();
        assert_eq!(out, TensorData::F32(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]));
    }

    #[test]
    fn nearest_resize_picks_the_formulas_pixels() {
        // 5x3 -> 2x2: columns (1*5/4, 3*5/4) = (1, 3), rows (1*3/4, 3*3/4) = (0, 2).
        let pixels = pattern(5, 3);
        let at = |x: usize, y: usize, c: usize| f32::from(pixels[(y * 5 + x) * 3 + c]);
        let model = spec(DType::F32, &[ANY, Some(3), Some(2), Some(2)]);
        let near = input(json!({"resize": {"width": 2, "height": 2}}), &model);
        let (got, shape) = f32_row(&near, &png(5, 3, &pixels));
        assert_eq!(shape, [3, 2, 2]);
        let want: Vec<f32> = (0..3)
            .flat_map(|c| [(1, 0), (3, 0), (1, 2), (3, 2)].map(|(x, y)| at(x, y, c)))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn shorter_side_then_a_centred_crop() {
        // 8x4 at shorterSide 2 -> 4x2; crop [2, 2] -> left floor((4 - 2) / 2) = 1, top 0.
        // Nearest columns for 8 -> 4 at 1, 2: (3*8/8, 5*8/8) = (3, 5); rows 4 -> 2: (1, 3).
        let pixels = pattern(8, 4);
        let at = |x: usize, y: usize| pixels[(y * 8 + x) * 3];
        let cropped = input(
            json!({"resize": {"shorterSide": 2, "crop": [2, 2]}}),
            &spec(DType::U8, &[ANY, Some(3), Some(2), Some(2)]),
        );
        let mut out = TensorData::with_capacity(DType::U8, 0);
        assert_eq!(
            cropped.decode_row(&png(8, 4, &pixels), &mut out),
            Ok([3, 2, 2])
        );
        let TensorData::U8(values) = out else {
            unreachable!()
        };
        assert_eq!(&values[..4], &[at(3, 1), at(5, 1), at(3, 3), at(5, 3)]);
        // Without a crop the row is the whole resized image, its size following the image.
        let free = input(
            json!({"resize": {"shorterSide": 2}}),
            &spec(DType::F32, &[ANY, Some(3), ANY, ANY]),
        );
        assert_eq!(f32_row(&free, &png(8, 4, &pixels)).1, [3, 2, 4]);
        assert_eq!(f32_row(&free, &png(3, 9, &pattern(3, 9))).1, [3, 6, 2]);
    }

    #[test]
    fn shorter_side_refuses_a_row_over_the_side_limit() {
        let free = input(
            json!({"resize": {"shorterSide": 8}, "maxWidth": 64, "maxHeight": 64}),
            &spec(DType::F32, &[ANY, Some(3), ANY, ANY]),
        );
        let error = refused(&free, &png(64, 1, &pattern(64, 1)));
        assert_eq!(error.refusal, Refusal::TooLarge, "{error}");
        assert!(error.message.contains("512x8"), "{error}");
    }

    #[test]
    fn bilinear_is_the_identity_at_the_same_size() {
        let pixels = pattern(3, 2);
        let model = spec(DType::F32, &[ANY, Some(3), Some(2), Some(3)]);
        let same = input(
            json!({"resize": {"width": 3, "height": 2, "filter": "bilinear"}}),
            &model,
        );
        let plain = input(json!({}), &model);
        let body = png(3, 2, &pixels);
        assert_eq!(f32_row(&same, &body), f32_row(&plain, &body));
    }

    #[test]
    fn bilinear_by_hand_and_in_each_layout() {
        // 4x2 -> 2x1: per axis scale 2 and weights (0.75, 0.75, 0.25)/1.75, (0.25, 0.75, 0.75)/1.75;
        // 2 -> 1 rows: the mean.
        let pixels = pattern(4, 2);
        let at = |x: usize, y: usize, c: usize| f64::from(pixels[(y * 4 + x) * 3 + c]);
        let body = png(4, 2, &pixels);
        let want: Vec<f64> = (0..3)
            .flat_map(|c| {
                let col = |y| {
                    [
                        (0.75 * at(0, y, c) + 0.75 * at(1, y, c) + 0.25 * at(2, y, c)) / 1.75,
                        (0.25 * at(1, y, c) + 0.75 * at(2, y, c) + 0.75 * at(3, y, c)) / 1.75,
                    ]
                };
                let (top, bottom) = (col(0), col(1));
                [(top[0] + bottom[0]) / 2.0, (top[1] + bottom[1]) / 2.0]
            })
            .collect();
        let resize = json!({"width": 2, "height": 1, "filter": "bilinear"});
        let nchw = input(
            json!({"resize": resize}),
            &spec(DType::F32, &[ANY, Some(3), Some(1), Some(2)]),
        );
        let (got, shape) = f32_row(&nchw, &body);
        assert_eq!(shape, [3, 1, 2]);
        for (g, w) in got.iter().zip(&want) {
            assert!((f64::from(*g) - w).abs() < 1e-4, "{got:?} vs {want:?}");
        }
        // NHWC and float64 hold the same values, in their order.
        let nhwc = input(
            json!({"resize": resize, "layout": "NHWC"}),
            &spec(DType::F64, &[ANY, Some(1), Some(2), Some(3)]),
        );
        let mut out = TensorData::with_capacity(DType::F64, 0);
        assert_eq!(nhwc.decode_row(&body, &mut out), Ok([1, 2, 3]));
        let transposed: Vec<f64> = [0, 2, 4, 1, 3, 5]
            .iter()
            .map(|&i| f64::from(got[i]))
            .collect();
        assert_eq!(out, TensorData::F64(transposed));
        // Gray takes luma first, then resamples it.
        let gray = input(
            json!({"resize": resize, "color": "gray"}),
            &spec(DType::F32, &[ANY, Some(1), Some(1), Some(2)]),
        );
        let luma: Vec<f32> = pixels
            .chunks(3)
            .map(|p| f32::from(luma(p[0], p[1], p[2])))
            .collect();
        let mut want = Vec::new();
        resize::bilinear(
            Plane {
                data: &luma[..],
                width: 4,
                height: 2,
                stride: 1,
                offset: 0,
            },
            2,
            1,
            0..2,
            0..1,
            &mut want,
        );
        assert_eq!(f32_row(&gray, &body).0, want);
    }

    #[test]
    fn an_image_of_another_size_without_resize_is_refused() {
        let fixed = input(
            json!({}),
            &spec(DType::F32, &[ANY, Some(3), Some(28), Some(28)]),
        );
        let error = refused(&fixed, &png(30, 30, &pattern(30, 30)));
        assert_eq!(error.refusal, Refusal::BadRequest);
        assert_eq!(
            error.message,
            "the image is 30x30, and this input takes 28x28; declare resize"
        );
    }

    fn crc32(bytes: &[u8]) -> u32 {
        let table: Vec<u32> = (0..256u32)
            .map(|n| {
                (0..8).fold(n, |c, _| {
                    if c & 1 == 1 {
                        0xEDB8_8320 ^ (c >> 1)
                    } else {
                        c >> 1
                    }
                })
            })
            .collect();
        !bytes.iter().fold(!0u32, |c, b| {
            table[((c ^ u32::from(*b)) & 0xFF) as usize] ^ (c >> 8)
        })
    }

    fn chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
        let mut out = (data.len() as u32).to_be_bytes().to_vec();
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        let crc = crc32(&out[4..]);
        out.extend_from_slice(&crc.to_be_bytes());
        out
    }

    /// A 57-byte PNG whose header claims `width` x `height` RGB pixels.
    fn png_header(width: u32, height: u32) -> Vec<u8> {
        let mut ihdr = width.to_be_bytes().to_vec();
        ihdr.extend_from_slice(&height.to_be_bytes());
        ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
        let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
        bytes.extend(chunk(b"IHDR", &ihdr));
        bytes.extend(chunk(b"IDAT", &[]));
        bytes.extend(chunk(b"IEND", &[]));
        bytes
    }

    #[test]
    fn a_header_bomb_is_refused_from_its_header() {
        assert_eq!(crc32(b"IEND"), 0xAE42_6082);
        let bomb = png_header(100_000, 100_000);
        assert_eq!(bomb.len(), 57);
        let any = input(
            json!({"resize": {"width": 8, "height": 8}}),
            &spec(DType::F32, &[ANY, Some(3), Some(8), Some(8)]),
        );
        let start = Instant::now();
        let error = refused(&any, &bomb);
        assert!(start.elapsed() < Duration::from_secs(1));
        assert_eq!(error.refusal, Refusal::TooLarge);
        assert_eq!(
            error.message,
            "the image claims 100000x100000 pixels; this input takes at most 4096x4096"
        );
        // GIF and BMP headers are read the same way.
        let mut gif = b"GIF89a".to_vec();
        gif.extend_from_slice(&60_000u16.to_le_bytes());
        gif.extend_from_slice(&60_000u16.to_le_bytes());
        gif.extend_from_slice(&[0, 0, 0]);
        gif.extend_from_slice(&[0x2C, 0, 0, 0, 0, 0x60, 0xEA, 0x60, 0xEA, 0, 2, 0, 0x3B]);
        let error = refused(&any, &gif);
        assert_eq!(error.refusal, Refusal::TooLarge, "{error}");
        assert!(error.message.contains("60000x60000"), "{error}");
        let mut bmp = b"BM".to_vec();
        bmp.extend_from_slice(&[0; 8]);
        bmp.extend_from_slice(&54u32.to_le_bytes());
        bmp.extend_from_slice(&40u32.to_le_bytes());
        bmp.extend_from_slice(&60_000i32.to_le_bytes());
        bmp.extend_from_slice(&60_000i32.to_le_bytes());
        bmp.extend_from_slice(&[1, 0, 24, 0]);
        bmp.extend_from_slice(&[0; 24]);
        let error = refused(&any, &bmp);
        assert_eq!(error.refusal, Refusal::TooLarge, "{error}");
        assert!(error.message.contains("60000x60000"), "{error}");
        assert!(start.elapsed() < Duration::from_secs(1));
        // One side over its own limit is enough.
        let narrow = input(
            json!({"resize": {"width": 8, "height": 8}, "maxWidth": 100, "maxHeight": 10}),
            &spec(DType::F32, &[ANY, Some(3), Some(8), Some(8)]),
        );
        assert_eq!(
            refused(&narrow, &png_header(50, 11)).refusal,
            Refusal::TooLarge
        );
        // Within the limits the same empty file is a broken image.
        assert_eq!(
            refused(&narrow, &png_header(50, 10)).refusal,
            Refusal::BadRequest
        );
    }

    #[test]
    fn truncated_or_corrupt_images_are_bad_requests() {
        let any = input(
            json!({"resize": {"width": 8, "height": 8}}),
            &spec(DType::F32, &[ANY, Some(3), Some(8), Some(8)]),
        );
        let body = png(16, 16, &pattern(16, 16));
        let error = refused(&any, &body[..body.len() / 2]);
        assert_eq!(error.refusal, Refusal::BadRequest, "{error}");
        assert!(
            error
                .message
                .starts_with("the png image cannot be decoded: "),
            "{error}"
        );

        let mut jpeg = Vec::new();
        JpegEncoder::new_with_quality(&mut jpeg, 90)
            .write_image(&pattern(16, 16), 16, 16, ExtendedColorType::Rgb8)
            .unwrap();
        assert_eq!(f32_row(&any, &jpeg).1, [3, 8, 8]);
        let error = refused(&any, &jpeg[..jpeg.len() - 10]);
        assert_eq!(error.refusal, Refusal::BadRequest);
        assert_eq!(error.message, "truncated JPEG: no end-of-image marker");
    }

    #[test]
    fn other_bodies_are_unsupported() {
        let pngs_only = input(
            json!({"formats": ["png", "bmp"], "resize": {"width": 8, "height": 8}}),
            &spec(DType::F32, &[ANY, Some(3), Some(8), Some(8)]),
        );
        let error = refused(&pngs_only, b"II*\0\x08\0\0\0 and then some more bytes");
        assert_eq!(error.refusal, Refusal::Unsupported);
        assert_eq!(
            error.message,
            "the body is a tiff image, which this server does not decode; this input takes png, bmp"
        );
        for body in [&b""[..], b"{\"inputs\": []}", b"\x89PN"] {
            let error = refused(&pngs_only, body);
            assert_eq!(error.refusal, Refusal::Unsupported);
            assert_eq!(
                error.message,
                "the body is not an image this server decodes (png, jpeg, webp, bmp, gif); this input takes png, bmp"
            );
        }
        let mut gif = Vec::new();
        GifEncoder::new(&mut gif)
            .write_image(&[0; 3], 1, 1, ExtendedColorType::Rgb8)
            .unwrap();
        let error = refused(&pngs_only, &gif);
        assert_eq!(error.refusal, Refusal::Unsupported);
        assert_eq!(
            error.message,
            "the body is a gif image, and this input takes png, bmp"
        );
    }

    #[test]
    fn the_lossless_formats_decode_to_the_same_pixels() {
        // Two colours, so GIF's palette holds them exactly.
        let pixels: Vec<u8> = (0..12)
            .flat_map(|i| {
                if i % 3 == 0 {
                    [200, 10, 30]
                } else {
                    [0, 128, 255]
                }
            })
            .collect();
        let model = spec(DType::U8, &[ANY, Some(3), Some(3), Some(4)]);
        let any = input(json!({}), &model);
        let mut bodies = vec![png(4, 3, &pixels)];
        let mut bmp = Vec::new();
        BmpEncoder::new(&mut bmp)
            .write_image(&pixels, 4, 3, ExtendedColorType::Rgb8)
            .unwrap();
        bodies.push(bmp);
        let mut webp = Vec::new();
        WebPEncoder::new_lossless(&mut webp)
            .write_image(&pixels, 4, 3, ExtendedColorType::Rgb8)
            .unwrap();
        bodies.push(webp);
        let mut gif = Vec::new();
        GifEncoder::new(&mut gif)
            .write_image(&pixels, 4, 3, ExtendedColorType::Rgb8)
            .unwrap();
        bodies.push(gif);
        let mut rgba = Vec::new();
        let with_alpha: Vec<u8> = pixels
            .chunks(3)
            .flat_map(|p| [p[0], p[1], p[2], 7])
            .collect();
        PngEncoder::new(&mut rgba)
            .write_image(&with_alpha, 4, 3, ExtendedColorType::Rgba8)
            .unwrap();
        bodies.push(rgba);
        let want: Vec<u8> = (0..3)
            .flat_map(|c| pixels.iter().skip(c).step_by(3).copied())
            .collect();
        for body in bodies {
            let mut out = TensorData::with_capacity(DType::U8, 0);
            assert_eq!(any.decode_row(&body, &mut out), Ok([3, 3, 4]));
            assert_eq!(out, TensorData::U8(want.clone()), "{:?}", &body[..4]);
        }
    }

    #[test]
    fn no_prefix_or_flipped_byte_panics() {
        let pixels = pattern(9, 7);
        let mut bodies = vec![png(9, 7, &pixels)];
        let mut jpeg = Vec::new();
        JpegEncoder::new(&mut jpeg)
            .write_image(&pixels, 9, 7, ExtendedColorType::Rgb8)
            .unwrap();
        bodies.push(jpeg);
        for encode in [
            |w: &mut Vec<u8>, p: &[u8]| {
                BmpEncoder::new(w).write_image(p, 9, 7, ExtendedColorType::Rgb8)
            },
            |w: &mut Vec<u8>, p: &[u8]| {
                WebPEncoder::new_lossless(w).write_image(p, 9, 7, ExtendedColorType::Rgb8)
            },
            |w: &mut Vec<u8>, p: &[u8]| {
                GifEncoder::new(w).write_image(p, 9, 7, ExtendedColorType::Rgb8)
            },
        ] {
            let mut body = Vec::new();
            encode(&mut body, &pixels).unwrap();
            bodies.push(body);
        }
        let inputs = [
            input(
                json!({"resize": {"shorterSide": 5, "crop": [4, 5], "filter": "bilinear"}, "color": "gray"}),
                &spec(DType::F32, &[ANY, Some(1), Some(5), Some(4)]),
            ),
            input(
                json!({"layout": "NHWC"}),
                &spec(DType::U8, &[ANY, ANY, ANY, Some(3)]),
            ),
        ];
        for body in &bodies {
            for input in &inputs {
                for end in 0..body.len() {
                    let mut out = TensorData::with_capacity(input.dtype(), 0);
                    let _ = input.decode_row(&body[..end], &mut out);
                }
                for at in 0..body.len() {
                    let mut flipped = body.clone();
                    flipped[at] ^= 0x5A;
                    let mut out = TensorData::with_capacity(input.dtype(), 0);
                    let _ = input.decode_row(&flipped, &mut out);
                }
            }
        }
    }

    fn declaration_error(value: serde_json::Value, spec: &TensorSpec) -> DeclarationError {
        ImageInput::new(&decl(value), spec).expect_err("refused")
    }

    #[test]
    fn declarations_that_do_not_fit_the_model_name_their_key() {
        let mnist = spec(DType::F32, &[ANY, Some(1), Some(28), Some(28)]);
        let key = |value, spec: &TensorSpec| declaration_error(value, spec).key;

        assert_eq!(
            key(json!({}), &spec(DType::F32, &[ANY, Some(784)])),
            "decoder"
        );
        assert_eq!(
            key(
                json!({"color": "gray"}),
                &spec(DType::I64, &[ANY, Some(1), Some(28), Some(28)])
            ),
            "decoder"
        );
        let error = declaration_error(json!({}), &mnist);
        assert_eq!(error.key, "color");
        assert!(error.reason.contains("declare color gray"), "{error}");
        let channels_last = spec(DType::F32, &[ANY, Some(224), Some(224), Some(3)]);
        let error = declaration_error(json!({}), &channels_last);
        assert_eq!(error.key, "layout");
        assert!(error.reason.contains("declare layout NHWC"), "{error}");
        assert_eq!(
            key(
                json!({"color": "gray"}),
                &spec(DType::F32, &[ANY, Some(4), ANY, ANY])
            ),
            "color"
        );

        let gray = |resize| json!({"color": "gray", "resize": resize});
        assert_eq!(
            key(gray(json!({"width": 32, "height": 28})), &mnist),
            "resize.width"
        );
        assert_eq!(
            key(gray(json!({"width": 28, "height": 32})), &mnist),
            "resize.height"
        );
        assert_eq!(
            key(gray(json!({"shorterSide": 32, "crop": [28, 30]})), &mnist),
            "resize.crop"
        );
        let error = declaration_error(gray(json!({"shorterSide": 28})), &mnist);
        assert_eq!(error.key, "resize.shorterSide");
        assert!(error.reason.contains("takes 28x28"), "{error}");
        assert_eq!(
            key(
                json!({"resize": {"shorterSide": 5000}}),
                &spec(DType::F32, &[ANY, Some(3), ANY, ANY])
            ),
            "resize.shorterSide"
        );

        let bytes = spec(DType::U8, &[ANY, Some(1), Some(28), Some(28)]);
        assert_eq!(key(json!({"color": "gray", "scale": 0.5}), &bytes), "scale");
        assert_eq!(key(json!({"color": "gray", "mean": [0.5]}), &bytes), "mean");
        assert_eq!(
            key(
                gray(json!({"width": 28, "height": 28, "filter": "bilinear"})),
                &bytes
            ),
            "resize.filter"
        );
        assert_eq!(
            key(
                json!({"mean": [0.5]}),
                &spec(DType::F32, &[ANY, Some(3), ANY, ANY])
            ),
            "mean"
        );
    }

    #[test]
    fn declarations_that_fit() {
        let gray = json!({"color": "gray"});
        let mnist = spec(DType::F32, &[ANY, Some(1), Some(28), Some(28)]);
        assert_eq!(input(gray.clone(), &mnist).dtype(), DType::F32);
        input(gray.clone(), &spec(DType::U8, &[ANY, ANY, ANY, ANY]));
        input(
            json!({"color": "gray", "resize": {"width": 28, "height": 28}}),
            &spec(DType::U8, &[Some(1), Some(1), Some(28), Some(28)]),
        );
        input(
            json!({"resize": {"shorterSide": 256, "crop": [224, 224], "filter": "bilinear"}, "layout": "NHWC"}),
            &spec(DType::F64, &[ANY, Some(224), Some(224), Some(3)]),
        );
        let undeclared = TensorSpec {
            name: "x".into(),
            dtype: DType::F32,
            shape: None,
        };
        let any = input(json!({"formats": ["webp"]}), &undeclared);
        assert_eq!(any.formats(), &[ImageFormatName::Webp]);
    }
}
