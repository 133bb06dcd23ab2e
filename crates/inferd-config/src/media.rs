//! The inference config's declared pre- and post-processing: how a binary
//! request body (an image, a NumPy `.npy` array, raw little-endian
//! elements) becomes one model input (`inputs`), and how an output of
//! scores becomes labelled answers (`postprocess`). What can be checked
//! without the model is checked here, naming the key; what needs the
//! model's signature (channels, sizes, element types, label counts) is
//! checked when its contract is built.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// How one input is read from a binary body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InputDecoder {
    /// `image`, `npy` or `raw`.
    pub decoder: DecoderKind,
    /// image: the formats accepted, by content (default: all five).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub formats: Option<Vec<ImageFormatName>>,
    /// image: the size the model takes (absent: the image must be that size).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resize: Option<Resize>,
    /// image: the channels the model takes (default `rgb`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color: Option<Color>,
    /// image: each 0..255 value is multiplied by this first (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<f32>,
    /// image: subtracted per channel after `scale` (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean: Option<Vec<f32>>,
    /// image: divided per channel after `mean` (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub std: Option<Vec<f32>>,
    /// image: where the channels go (default `NCHW`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layout: Option<Layout>,
    /// image: the widest image accepted, from its header (default 4096).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_width: Option<u32>,
    /// image: the tallest image accepted, from its header (default 4096).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_height: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DecoderKind {
    /// PNG, JPEG, WebP, BMP or GIF (its first frame), known by content.
    Image,
    /// A NumPy `.npy` array (`application/x-npy`).
    Npy,
    /// Little-endian elements of the input's type (`application/octet-stream`).
    Raw,
}

impl DecoderKind {
    pub fn name(self) -> &'static str {
        match self {
            DecoderKind::Image => "image",
            DecoderKind::Npy => "npy",
            DecoderKind::Raw => "raw",
        }
    }
}

/// An image format the `image` decoder can be asked to accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImageFormatName {
    Png,
    Jpeg,
    Webp,
    Bmp,
    Gif,
}

impl ImageFormatName {
    pub const ALL: [ImageFormatName; 5] = [
        ImageFormatName::Png,
        ImageFormatName::Jpeg,
        ImageFormatName::Webp,
        ImageFormatName::Bmp,
        ImageFormatName::Gif,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ImageFormatName::Png => "png",
            ImageFormatName::Jpeg => "jpeg",
            ImageFormatName::Webp => "webp",
            ImageFormatName::Bmp => "bmp",
            ImageFormatName::Gif => "gif",
        }
    }

    /// Its media type (`image/png`).
    pub fn media_type(self) -> &'static str {
        match self {
            ImageFormatName::Png => "image/png",
            ImageFormatName::Jpeg => "image/jpeg",
            ImageFormatName::Webp => "image/webp",
            ImageFormatName::Bmp => "image/bmp",
            ImageFormatName::Gif => "image/gif",
        }
    }
}

/// How an image is brought to the model's size: `width` and `height`
/// (stretched), or `shorterSide` (aspect kept) and then an optional
/// centred `crop` of `[width, height]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Resize {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shorter_side: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crop: Option<[u32; 2]>,
    /// `nearest` (default) or `bilinear`.
    #[serde(default)]
    pub filter: Filter,
}

/// The resampling filter, specified exactly so that a Python pipeline
/// can agree with it (README: "Binary bodies").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Filter {
    /// Output pixel x takes input pixel floor((2x + 1) * in / (2 * out)),
    /// as Pillow's `NEAREST`.
    #[default]
    Nearest,
    /// Pillow's `BILINEAR` (a triangle filter, widened when shrinking),
    /// computed on float values: Pillow's mode "F".
    Bilinear,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Color {
    /// One channel: ITU-R 601-2 luma, as Pillow's `convert("L")`.
    Gray,
    #[default]
    Rgb,
    Bgr,
}

impl Color {
    /// As the config spells it.
    pub fn name(self) -> &'static str {
        match self {
            Color::Gray => "gray",
            Color::Rgb => "rgb",
            Color::Bgr => "bgr",
        }
    }

    pub fn channels(self) -> usize {
        match self {
            Color::Gray => 1,
            Color::Rgb | Color::Bgr => 3,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Layout {
    /// [N, channels, height, width].
    #[default]
    #[serde(rename = "NCHW")]
    Nchw,
    /// [N, height, width, channels].
    #[serde(rename = "NHWC")]
    Nhwc,
}

impl Layout {
    /// As the config spells it.
    pub fn name(self) -> &'static str {
        match self {
            Layout::Nchw => "NCHW",
            Layout::Nhwc => "NHWC",
        }
    }
}

/// How one output of class scores becomes labelled answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Postprocess {
    /// The class names, in the output's order: a list, or a file of one
    /// name per line (relative to `sourceDirectory`; read at load).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Labels>,
    /// How many of the best classes each row answers (default all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_k: Option<u32>,
    /// The output holds logits: turn each row into probabilities first.
    #[serde(default)]
    pub softmax: bool,
}

/// Class names: inline, or a file to read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Labels {
    List(Vec<String>),
    File(PathBuf),
}

impl Labels {
    /// The names (a loaded config's labels are always a list).
    pub fn names(&self) -> &[String] {
        match self {
            Labels::List(names) => names,
            Labels::File(_) => &[],
        }
    }
}

/// The most pixels per side an image may claim when no limit is given.
pub const DEFAULT_MAX_SIDE: u32 = 4096;

impl InputDecoder {
    pub fn formats(&self) -> Vec<ImageFormatName> {
        self.formats
            .clone()
            .unwrap_or_else(|| ImageFormatName::ALL.to_vec())
    }

    pub fn color(&self) -> Color {
        self.color.unwrap_or_default()
    }

    pub fn layout(&self) -> Layout {
        self.layout.unwrap_or_default()
    }

    pub fn max_width(&self) -> u32 {
        self.max_width.unwrap_or(DEFAULT_MAX_SIDE)
    }

    pub fn max_height(&self) -> u32 {
        self.max_height.unwrap_or(DEFAULT_MAX_SIDE)
    }

    /// Checks what can be checked without the model; errors are
    /// `(key under this input, reason)`. Run when the config is read, and
    /// again by whoever builds on a declaration that did not come from a
    /// read config.
    pub fn check(&self) -> Result<(), (String, String)> {
        let image_keys = [
            ("formats", self.formats.is_some()),
            ("resize", self.resize.is_some()),
            ("color", self.color.is_some()),
            ("scale", self.scale.is_some()),
            ("mean", self.mean.is_some()),
            ("std", self.std.is_some()),
            ("layout", self.layout.is_some()),
            ("maxWidth", self.max_width.is_some()),
            ("maxHeight", self.max_height.is_some()),
        ];
        if self.decoder != DecoderKind::Image {
            if let Some((key, _)) = image_keys.iter().find(|(_, given)| *given) {
                return Err((
                    (*key).into(),
                    format!(
                        "is an image decoder's key; the {} decoder takes the input's type and shape from the model",
                        self.decoder.name()
                    ),
                ));
            }
            return Ok(());
        }
        if self.formats.as_ref().is_some_and(Vec::is_empty) {
            return Err(("formats".into(), "name at least one format".into()));
        }
        if let Some(resize) = &self.resize {
            resize
                .validate()
                .map_err(|(key, reason)| (format!("resize.{key}"), reason))?;
        }
        if let Some(scale) = self.scale
            && !(scale.is_finite() && scale != 0.0)
        {
            return Err((
                "scale".into(),
                format!("{scale} is not a finite, non-zero number"),
            ));
        }
        let channels = self.color().channels();
        for (key, values) in [("mean", &self.mean), ("std", &self.std)] {
            let Some(values) = values else { continue };
            if values.len() != channels {
                return Err((
                    key.into(),
                    format!(
                        "{} values given, and color {} has {channels} channel{}",
                        values.len(),
                        self.color().name(),
                        if channels == 1 { "" } else { "s" }
                    ),
                ));
            }
            if let Some((at, value)) = values.iter().enumerate().find(|(_, v)| !v.is_finite()) {
                return Err((
                    format!("{key}[{at}]"),
                    format!("{value} is not a finite number"),
                ));
            }
        }
        if let Some(std) = &self.std
            && let Some((at, value)) = std.iter().enumerate().find(|(_, v)| **v == 0.0)
        {
            return Err((
                format!("std[{at}]"),
                format!("{value}: a divisor must not be zero"),
            ));
        }
        for (key, value) in [("maxWidth", self.max_width), ("maxHeight", self.max_height)] {
            if value == Some(0) {
                return Err((key.into(), "must be at least 1".into()));
            }
        }
        Ok(())
    }
}

impl Resize {
    /// The output size `(width, height)` for an image of `(width, height)`:
    /// `shorterSide` keeps the aspect (the longer side truncated, as
    /// torchvision does), then `crop` takes the centre.
    pub fn target(&self, width: u32, height: u32) -> (u32, u32) {
        match (self.width, self.height, self.shorter_side) {
            (Some(w), Some(h), _) => (w, h),
            (_, _, Some(side)) => shorter_side_size(width, height, side),
            _ => (width, height),
        }
    }

    fn validate(&self) -> Result<(), (String, String)> {
        match (self.width, self.height, self.shorter_side) {
            (Some(_), Some(_), None) => {
                if self.crop.is_some() {
                    return Err((
                        "crop".into(),
                        "goes with shorterSide; with width and height the image is stretched to that size".into(),
                    ));
                }
            }
            (None, None, Some(_)) => {}
            (Some(_), None, None) | (None, Some(_), None) => {
                return Err((
                    if self.width.is_some() {
                        "height"
                    } else {
                        "width"
                    }
                    .into(),
                    "give both width and height, or shorterSide".into(),
                ));
            }
            (None, None, None) => {
                return Err((
                    "shorterSide".into(),
                    "give width and height, or shorterSide (and crop)".into(),
                ));
            }
            _ => {
                return Err((
                    "shorterSide".into(),
                    "give either width and height, or shorterSide, not both".into(),
                ));
            }
        }
        for (key, value) in [
            ("width", self.width),
            ("height", self.height),
            ("shorterSide", self.shorter_side),
            ("crop[0]", self.crop.map(|c| c[0])),
            ("crop[1]", self.crop.map(|c| c[1])),
        ] {
            if value == Some(0) {
                return Err((key.into(), "must be at least 1".into()));
            }
        }
        if let (Some(side), Some([w, h])) = (self.shorter_side, self.crop)
            && (w > side || h > side)
        {
            return Err((
                "crop".into(),
                format!("[{w}, {h}] is larger than shorterSide {side}: a crop must fit inside"),
            ));
        }
        Ok(())
    }
}

/// `(width, height)` with the shorter side `side` and the other scaled,
/// truncated (torchvision's `resize(int)`).
fn shorter_side_size(width: u32, height: u32, side: u32) -> (u32, u32) {
    let scaled = |long: u32, short: u32| {
        ((u64::from(side) * u64::from(long)) / u64::from(short.max(1))) as u32
    };
    if width <= height {
        (side, scaled(height, width).max(1))
    } else {
        (scaled(width, height).max(1), side)
    }
}

impl Postprocess {
    /// Checks values and reads a labels file into the list.
    pub(crate) fn resolve(&mut self, source: &Path) -> Result<(), (String, String)> {
        if self.top_k == Some(0) {
            return Err(("topK".into(), "must be at least 1".into()));
        }
        if let Some(Labels::File(file)) = &self.labels {
            let path = source.join(file);
            let text = std::fs::read_to_string(&path).map_err(|e| {
                (
                    "labels".into(),
                    format!("cannot read {}: {e}", path.display()),
                )
            })?;
            let names: Vec<String> = text
                .lines()
                .map(|line| line.trim_end_matches('\r').to_owned())
                .collect();
            self.labels = Some(Labels::List(names));
        }
        if let Some(labels) = &self.labels
            && labels.names().is_empty()
        {
            return Err(("labels".into(), "holds no class name".into()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shorter_side_keeps_the_aspect_truncating_the_longer_side() {
        assert_eq!(shorter_side_size(500, 375, 36), (48, 36));
        assert_eq!(shorter_side_size(375, 500, 36), (36, 48));
        assert_eq!(shorter_side_size(37, 53, 32), (32, 45));
        assert_eq!(shorter_side_size(10, 10, 32), (32, 32));
    }
}
