//! The resampling an image input declares, on planes of samples: `nearest`
//! as an integer formula, `bilinear` as Pillow's `BILINEAR` on float
//! values (mode `"F"`), and the centred crop that follows a `shorterSide`
//! resize.
//!
//! Both filters are specified exactly (README: "Binary bodies") so that a
//! Python/Pillow pipeline gives the same tensor within 1e-5; the formulas
//! here are that specification, not approximations of it. Each works on
//! one output window (the crop), so the part of the resized image that the
//! crop throws away is never computed.

use std::ops::Range;

/// For each output position in `window` of an axis resized from `in_size`
/// to `out_size`, the input position it takes:
/// `floor((2x + 1) * in / (2 * out))`. Integer arithmetic, because
/// Pillow's `NEAREST` (an accumulated double) and any float product only
/// agree with each other where this exact value is not near an integer;
/// the exact formula is what the Python reference computes too.
pub(crate) fn nearest_indices(in_size: usize, out_size: usize, window: Range<usize>) -> Vec<usize> {
    let (in_size, out_size) = (in_size as u128, out_size as u128);
    // u128: (2x + 1) * in reaches 2^65 with both sides near u32::MAX.
    window
        .map(|x| ((2 * x as u128 + 1) * in_size / (2 * out_size)) as usize)
        .collect()
}

/// The left (or top) edge of a centred crop of `crop` out of `size`:
/// `floor((size - crop) / 2)`; `None` when the crop does not fit.
pub(crate) fn crop_offset(size: usize, crop: usize) -> Option<usize> {
    size.checked_sub(crop).map(|spare| spare / 2)
}

/// Pillow's `BILINEAR` coefficients for the output positions in a window
/// of one axis: for each, the first input position and its weights.
#[derive(Debug)]
pub(crate) struct Coefficients {
    /// Per output position: (first input position, start in `weights`, count).
    taps: Vec<(usize, usize, usize)>,
    weights: Vec<f64>,
}

impl Coefficients {
    /// Pillow's `precompute_coeffs` (`Resample.c`) with the triangle filter,
    /// step for step in f64 so the weights are Pillow's to the last bit
    /// (its `(int)` casts truncate; on the non-negative values that survive
    /// the clamps that is `floor`).
    pub(crate) fn bilinear(in_size: usize, out_size: usize, window: Range<usize>) -> Coefficients {
        let scale = in_size as f64 / out_size as f64;
        let filterscale = scale.max(1.0);
        // The triangle's support is 1, widened when shrinking (antialias).
        let support = filterscale;
        let ss = 1.0 / filterscale;
        let mut taps = Vec::with_capacity(window.len());
        // At most this many taps each: the window's width, or the whole axis.
        let per_output = (2.0 * support.ceil() + 1.0).min(in_size as f64) as usize;
        let mut weights = Vec::with_capacity(window.len().saturating_mul(per_output));
        for xx in window {
            let center = (xx as f64 + 0.5) * scale;
            let xmin = (center - support + 0.5).floor().max(0.0) as usize;
            let xmax = ((center + support + 0.5).floor() as usize).min(in_size);
            let count = xmax.saturating_sub(xmin);
            let start = weights.len();
            let mut total = 0.0;
            for x in 0..count {
                let w = triangle(((x + xmin) as f64 - center + 0.5) * ss);
                weights.push(w);
                total += w;
            }
            if total != 0.0 {
                for w in &mut weights[start..] {
                    *w /= total;
                }
            }
            taps.push((xmin, start, count));
        }
        Coefficients { taps, weights }
    }

    fn len(&self) -> usize {
        self.taps.len()
    }

    /// The weighted sum for output position `at`, reading input position
    /// `p` as `sample(p)`.
    #[inline]
    fn apply(&self, at: usize, sample: impl Fn(usize) -> f64) -> f32 {
        let (first, start, count) = self.taps[at];
        let mut sum = 0.0f64;
        for (k, w) in self.weights[start..start + count].iter().enumerate() {
            sum += sample(first + k) * w;
        }
        // Pillow's mode "F" stores each pass as float32.
        sum as f32
    }

    /// The input positions any output position reads.
    fn span(&self) -> Range<usize> {
        let start = self.taps.iter().map(|t| t.0).min().unwrap_or(0);
        let end = self.taps.iter().map(|t| t.0 + t.2).max().unwrap_or(start);
        start..end
    }
}

/// Pillow's `bilinear_filter`.
fn triangle(x: f64) -> f64 {
    let x = x.abs();
    if x < 1.0 { 1.0 - x } else { 0.0 }
}

/// One channel of an image as samples: the value at column `x`, row `y` is
/// `data[(y * width + x) * stride + offset]` (an interleaved RGB buffer is
/// read as three planes without copying it apart).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Plane<'a, T> {
    pub data: &'a [T],
    pub width: usize,
    pub height: usize,
    pub stride: usize,
    pub offset: usize,
}

impl<T: Copy + Into<f64>> Plane<'_, T> {
    #[inline]
    fn at(&self, x: usize, y: usize) -> f64 {
        self.data[(y * self.width + x) * self.stride + self.offset].into()
    }
}

/// `src` resized to `out_width` x `out_height` with Pillow's float
/// `BILINEAR`, horizontal pass then vertical, only the output `cols` x
/// `rows` window computed; appended to `out` row by row. An axis whose size
/// does not change is not resampled (Pillow skips that pass too, so its
/// values stay exactly the input's).
///
/// The caller guarantees the window lies inside the output and the plane
/// inside `data`.
pub(crate) fn bilinear<T: Copy + Into<f64>>(
    src: Plane<'_, T>,
    out_width: usize,
    out_height: usize,
    cols: Range<usize>,
    rows: Range<usize>,
    out: &mut Vec<f32>,
) {
    let horizontal = (out_width != src.width)
        .then(|| Coefficients::bilinear(src.width, out_width, cols.clone()));
    let vertical = (out_height != src.height)
        .then(|| Coefficients::bilinear(src.height, out_height, rows.clone()));
    // Only the input rows the vertical pass reads go through the horizontal one.
    let in_rows = match &vertical {
        Some(v) => v.span(),
        None => rows.clone(),
    };
    let width = cols.len();
    let mut middle = Vec::with_capacity(in_rows.len() * width);
    for y in in_rows.clone() {
        match &horizontal {
            Some(h) => middle.extend((0..h.len()).map(|at| h.apply(at, |x| src.at(x, y)))),
            None => middle.extend(cols.clone().map(|x| src.at(x, y) as f32)),
        }
    }
    let first_row = in_rows.start;
    out.reserve(rows.len() * width);
    match &vertical {
        Some(v) => {
            for at in 0..v.len() {
                for x in 0..width {
                    out.push(v.apply(at, |y| f64::from(middle[(y - first_row) * width + x])));
                }
            }
        }
        None => out.extend_from_slice(&middle),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The formula by hand: out x takes floor((2x + 1) * in / (2 * out)).
    #[test]
    fn nearest_follows_the_integer_formula() {
        // 37 -> 32: ratio 1.15625; (2x+1)*37/64.
        let idx = nearest_indices(37, 32, 0..32);
        assert_eq!(&idx[..6], &[0, 1, 2, 4, 5, 6]); // 7*37/64 = 4.05
        assert_eq!(idx[31], 36); // 63*37/64 = 36.42
        assert_eq!(idx[16], 19); // 33*37/64 = 19.08
        // 20 -> 32 (upscale): (2x+1)*20/64.
        let idx = nearest_indices(20, 32, 0..32);
        assert_eq!(&idx[..8], &[0, 0, 1, 2, 2, 3, 4, 4]);
        assert_eq!(idx[31], 19); // 63*20/64 = 19.69
        // 500 -> 32: (2x+1)*500/64.
        let idx = nearest_indices(500, 32, 0..32);
        assert_eq!(&idx[..4], &[7, 23, 39, 54]); // 7.8, 23.4, 39.1, 54.7
        assert_eq!(idx[31], 492); // 63*500/64 = 492.19
        // An integer factor takes the second of each pair (Pillow does too).
        assert_eq!(nearest_indices(64, 32, 0..4), vec![1, 3, 5, 7]);
        // Unchanged size is the identity.
        assert_eq!(nearest_indices(7, 7, 0..7), (0..7).collect::<Vec<_>>());
        // A window gives the same positions as the whole axis.
        assert_eq!(
            nearest_indices(37, 32, 10..14),
            nearest_indices(37, 32, 0..32)[10..14].to_vec()
        );
        // Huge sizes do not overflow.
        assert_eq!(
            nearest_indices(u32::MAX as usize, u32::MAX as usize, 5..6),
            vec![5]
        );
    }

    #[test]
    fn crop_takes_the_floor_of_half_the_spare() {
        assert_eq!(crop_offset(48, 32), Some(8));
        assert_eq!(crop_offset(45, 32), Some(6)); // 13 / 2
        assert_eq!(crop_offset(32, 32), Some(0));
        assert_eq!(crop_offset(31, 32), None);
    }

    fn plane(data: &[f32], width: usize, height: usize) -> Plane<'_, f32> {
        Plane {
            data,
            width,
            height,
            stride: 1,
            offset: 0,
        }
    }

    fn resized(data: &[f32], width: usize, height: usize, out_w: usize, out_h: usize) -> Vec<f32> {
        let mut out = Vec::new();
        bilinear(
            plane(data, width, height),
            out_w,
            out_h,
            0..out_w,
            0..out_h,
            &mut out,
        );
        out
    }

    #[test]
    fn bilinear_of_an_unchanged_size_is_the_identity() {
        let data: Vec<f32> = (0..12).map(|v| v as f32 * 1.5).collect();
        assert_eq!(resized(&data, 4, 3, 4, 3), data);
        // A window of the identity is a crop.
        let mut out = Vec::new();
        bilinear(plane(&data, 4, 3), 4, 3, 1..3, 1..3, &mut out);
        assert_eq!(out, vec![data[5], data[6], data[9], data[10]]);
    }

    #[test]
    fn bilinear_two_to_one_averages() {
        // scale 2, support 2, center 1: xmin = floor(-0.5) -> 0, xmax = min(floor(3.5), 2) = 2;
        // weights tri((0 - 1 + 0.5) / 2) = 0.75, tri((1 - 1 + 0.5) / 2) = 0.75: equal, so the mean.
        assert_eq!(resized(&[10.0, 20.0], 2, 1, 1, 1), vec![15.0]);
        assert_eq!(resized(&[10.0, 20.0], 1, 2, 1, 1), vec![15.0]);
    }

    #[test]
    fn bilinear_four_to_two_by_hand() {
        // scale 2, support 2. x = 0: center 1, taps 0..3 (floor(3.5) = 3), weights
        // tri(-0.25) = 0.75, tri(0.25) = 0.75, tri(0.75) = 0.25, sum 1.75.
        // x = 1: center 3, taps floor(1.5) = 1 .. min(5, 4) = 4, weights 0.25, 0.75, 0.75.
        let row = [0.0f32, 10.0, 20.0, 40.0];
        let want0 = (0.75 * 0.0 + 0.75 * 10.0 + 0.25 * 20.0) / 1.75;
        let want1 = (0.25 * 10.0 + 0.75 * 20.0 + 0.75 * 40.0) / 1.75;
        let got = resized(&row, 4, 1, 2, 1);
        assert!((f64::from(got[0]) - want0).abs() < 1e-6, "{got:?}");
        assert!((f64::from(got[1]) - want1).abs() < 1e-6, "{got:?}");
        // Both axes: a 4x4 whose rows are `row` scaled by (1, 2, 3, 4).
        let data: Vec<f32> = (0..4)
            .flat_map(|y| row.map(|v| v * (y + 1) as f32))
            .collect();
        let got = resized(&data, 4, 4, 2, 2);
        let col0 = (0.75 * 1.0 + 0.75 * 2.0 + 0.25 * 3.0) / 1.75;
        let col1 = (0.25 * 2.0 + 0.75 * 3.0 + 0.75 * 4.0) / 1.75;
        let want = [want0 * col0, want1 * col0, want0 * col1, want1 * col1];
        for (g, w) in got.iter().zip(want) {
            assert!((f64::from(*g) - w).abs() < 1e-5, "{got:?} vs {want:?}");
        }
    }

    #[test]
    fn bilinear_upscale_interpolates_and_clamps_at_the_edges() {
        // 2 -> 4: scale 0.5, support 1. x = 0: center 0.25, taps 0..1 -> 10 alone.
        // x = 1: center 0.75, taps 0..2, weights tri(-0.25) = 0.75, tri(0.75) = 0.25.
        assert_eq!(
            resized(&[10.0, 20.0], 2, 1, 4, 1),
            vec![10.0, 12.5, 17.5, 20.0]
        );
    }

    #[test]
    fn bilinear_reads_an_interleaved_channel() {
        // Two RGB pixels: the green channel is (20, 40).
        let rgb = [1u8, 20, 3, 4, 40, 6];
        let mut out = Vec::new();
        let green = Plane {
            data: &rgb[..],
            width: 2,
            height: 1,
            stride: 3,
            offset: 1,
        };
        bilinear(green, 1, 1, 0..1, 0..1, &mut out);
        assert_eq!(out, vec![30.0]);
    }

    #[test]
    fn a_window_equals_the_crop_of_the_whole() {
        let data: Vec<f32> = (0..(9 * 7)).map(|v| ((v * 37) % 101) as f32).collect();
        let whole = resized(&data, 9, 7, 6, 5);
        let mut part = Vec::new();
        bilinear(plane(&data, 9, 7), 6, 5, 1..5, 2..4, &mut part);
        let want: Vec<f32> = (2..4)
            .flat_map(|y| (1..5).map(move |x| (y, x)))
            .map(|(y, x)| whole[y * 6 + x])
            .collect();
        assert_eq!(part, want);
    }
}
