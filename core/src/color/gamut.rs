//! Gamuts: RGB↔XYZ matrices derived from each space's defining primaries and white point (the
//! SMPTE RP 177 construction), Bradford chromatic adaptation between whites, and the small 3×3
//! helpers the ops use. Nothing here is a typed-in matrix: published ones are only test oracles.

/// Row-major 3×3 matrix acting on column vectors: `out[i] = Σ m[i][j]·v[j]`.
pub type Mat3 = [[f64; 3]; 3];

/// CIE 1931 xy chromaticity.
pub type Xy = [f64; 2];

/// An RGB space as its standard defines it: three primaries and a white point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RgbSpace {
    pub name: &'static str,
    pub red: Xy,
    pub green: Xy,
    pub blue: Xy,
    pub white: Xy,
}

/// CIE D65 as the video standards write it (BT.709, BT.2020, SMPTE EG 432-1 for P3-D65).
pub const D65: Xy = [0.3127, 0.3290];
/// The ACES white point (SMPTE ST 2065-1), "approximately D60": not a CIE daylight.
pub const ACES_WHITE: Xy = [0.32168, 0.33767];

/// ITU-R BT.709-6 Table 1 (also sRGB, IEC 61966-2-1).
pub const REC709: RgbSpace = RgbSpace {
    name: "Rec.709",
    red: [0.640, 0.330],
    green: [0.300, 0.600],
    blue: [0.150, 0.060],
    white: D65,
};

/// ITU-R BT.2020-2 Table 3 (also BT.2100).
pub const REC2020: RgbSpace = RgbSpace {
    name: "Rec.2020",
    red: [0.708, 0.292],
    green: [0.170, 0.797],
    blue: [0.131, 0.046],
    white: D65,
};

/// P3-D65 (SMPTE EG 432-1 primaries with a D65 white), the usual HDR mastering-display gamut.
pub const P3_D65: RgbSpace = RgbSpace {
    name: "P3-D65",
    red: [0.680, 0.320],
    green: [0.265, 0.690],
    blue: [0.150, 0.060],
    white: D65,
};

/// ACES AP1 primaries (SMPTE ST 2065-1 / Academy S-2014-004, ACEScg) with the ACES white.
pub const ACES_AP1: RgbSpace = RgbSpace {
    name: "ACEScg (AP1)",
    red: [0.713, 0.293],
    green: [0.165, 0.830],
    blue: [0.128, 0.044],
    white: ACES_WHITE,
};

/// The Bradford cone-response matrix (Lam 1985; as used by ICC v4 and the ACES CTL).
const BRADFORD: Mat3 = [
    [0.8951, 0.2664, -0.1614],
    [-0.7502, 1.7135, 0.0367],
    [0.0389, -0.0685, 1.0296],
];

pub const IDENTITY: Mat3 = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];

/// XYZ of a chromaticity at luminance Y = 1.
pub fn xy_to_xyz(xy: Xy) -> [f64; 3] {
    [xy[0] / xy[1], 1.0, (1.0 - xy[0] - xy[1]) / xy[1]]
}

/// xy chromaticity of an XYZ triple (the white point's for black, where it is undefined).
pub fn xyz_to_xy(xyz: [f64; 3]) -> Xy {
    let sum = xyz[0] + xyz[1] + xyz[2];
    if sum == 0.0 {
        return D65;
    }
    [xyz[0] / sum, xyz[1] / sum]
}

pub fn mat_mul(a: &Mat3, b: &Mat3) -> Mat3 {
    let mut m = [[0.0; 3]; 3];
    for (i, row) in m.iter_mut().enumerate() {
        for (j, v) in row.iter_mut().enumerate() {
            *v = (0..3).map(|k| a[i][k] * b[k][j]).sum();
        }
    }
    m
}

pub fn mat_vec(m: &Mat3, v: [f64; 3]) -> [f64; 3] {
    [
        m[0][0] * v[0] + m[0][1] * v[1] + m[0][2] * v[2],
        m[1][0] * v[0] + m[1][1] * v[1] + m[1][2] * v[2],
        m[2][0] * v[0] + m[2][1] * v[1] + m[2][2] * v[2],
    ]
}

pub fn mat_diag(d: [f64; 3]) -> Mat3 {
    [[d[0], 0.0, 0.0], [0.0, d[1], 0.0], [0.0, 0.0, d[2]]]
}

/// Inverse by the adjugate. The matrices inverted here (primaries, Bradford, crosstalk) are
/// well-conditioned by construction; a singular input yields non-finite entries, never a panic.
pub fn mat_inverse(m: &Mat3) -> Mat3 {
    let c =
        |r0: usize, c0: usize, r1: usize, c1: usize| m[r0][c0] * m[r1][c1] - m[r0][c1] * m[r1][c0];
    let cof = [
        [c(1, 1, 2, 2), -c(1, 0, 2, 2), c(1, 0, 2, 1)],
        [-c(0, 1, 2, 2), c(0, 0, 2, 2), -c(0, 0, 2, 1)],
        [c(0, 1, 1, 2), -c(0, 0, 1, 2), c(0, 0, 1, 1)],
    ];
    let det = m[0][0] * cof[0][0] + m[0][1] * cof[0][1] + m[0][2] * cof[0][2];
    let mut inv = [[0.0; 3]; 3];
    for (i, row) in inv.iter_mut().enumerate() {
        for (j, v) in row.iter_mut().enumerate() {
            *v = cof[j][i] / det; // adjugate = transpose of the cofactors
        }
    }
    inv
}

/// Row-major `f32` copy, the layout the per-pixel code and the CUDA kernel take.
pub fn mat_to_f32(m: &Mat3) -> [f32; 9] {
    let mut out = [0.0f32; 9];
    for i in 0..3 {
        for j in 0..3 {
            out[3 * i + j] = m[i][j] as f32;
        }
    }
    out
}

/// Normalised primary matrix (SMPTE RP 177-1993 §3.3): linear RGB → CIE XYZ, scaled so RGB
/// (1, 1, 1) is the space's white at Y = 1.
pub fn rgb_to_xyz_matrix(space: &RgbSpace) -> Mat3 {
    let [r, g, b] = [space.red, space.green, space.blue].map(xy_to_xyz);
    let primaries = [[r[0], g[0], b[0]], [r[1], g[1], b[1]], [r[2], g[2], b[2]]];
    let s = mat_vec(&mat_inverse(&primaries), xy_to_xyz(space.white));
    mat_mul(&primaries, &mat_diag(s))
}

/// CIE XYZ → linear RGB of `space`.
pub fn xyz_to_rgb_matrix(space: &RgbSpace) -> Mat3 {
    mat_inverse(&rgb_to_xyz_matrix(space))
}

/// The RGB→Y weights of a space (the middle row of its normalised primary matrix); BT.2020's
/// come out as 0.2627, 0.6780, 0.0593.
pub fn luminance_weights(space: &RgbSpace) -> [f64; 3] {
    rgb_to_xyz_matrix(space)[1]
}

/// Bradford chromatic adaptation (von Kries scaling in the Bradford cone space) taking XYZ seen
/// under `from_white` to the corresponding XYZ under `to_white`.
pub fn bradford_adaptation(from_white: Xy, to_white: Xy) -> Mat3 {
    let src = mat_vec(&BRADFORD, xy_to_xyz(from_white));
    let dst = mat_vec(&BRADFORD, xy_to_xyz(to_white));
    let scale = mat_diag([dst[0] / src[0], dst[1] / src[1], dst[2] / src[2]]);
    mat_mul(&mat_inverse(&BRADFORD), &mat_mul(&scale, &BRADFORD))
}

/// Linear RGB of `from` → linear RGB of `to`. When the white points differ (ACEScg's ACES
/// white against the video spaces' D65) the XYZ step is Bradford-adapted so that `from`'s white
/// lands exactly on `to`'s white (RGB 1, 1, 1 stays 1, 1, 1).
pub fn rgb_to_rgb_matrix(from: &RgbSpace, to: &RgbSpace) -> Mat3 {
    let to_xyz = rgb_to_xyz_matrix(from);
    let adapt = if from.white == to.white {
        IDENTITY
    } else {
        bradford_adaptation(from.white, to.white)
    };
    mat_mul(&xyz_to_rgb_matrix(to), &mat_mul(&adapt, &to_xyz))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPACES: [RgbSpace; 4] = [REC709, REC2020, P3_D65, ACES_AP1];

    #[test]
    fn primaries_and_white_land_on_their_defining_chromaticities() {
        for s in SPACES {
            let m = rgb_to_xyz_matrix(&s);
            for (rgb, want) in [
                ([1.0, 0.0, 0.0], s.red),
                ([0.0, 1.0, 0.0], s.green),
                ([0.0, 0.0, 1.0], s.blue),
                ([1.0, 1.0, 1.0], s.white),
            ] {
                let xy = xyz_to_xy(mat_vec(&m, rgb));
                assert!(
                    (xy[0] - want[0]).abs() < 1e-12 && (xy[1] - want[1]).abs() < 1e-12,
                    "{} {rgb:?}: {xy:?} vs {want:?}",
                    s.name
                );
            }
            assert!(
                (mat_vec(&m, [1.0; 3])[1] - 1.0).abs() < 1e-12,
                "white has Y = 1"
            );
        }
    }

    #[test]
    fn published_matrices_are_reproduced() {
        // BT.709-6 / BT.2020-2 luma coefficients.
        let w709 = luminance_weights(&REC709);
        let w2020 = luminance_weights(&REC2020);
        for (got, want) in w709.iter().zip([0.2126, 0.7152, 0.0722]) {
            assert!((got - want).abs() < 5e-5, "709 luma {got} vs {want}");
        }
        for (got, want) in w2020.iter().zip([0.2627, 0.6780, 0.0593]) {
            assert!((got - want).abs() < 5e-5, "2020 luma {got} vs {want}");
        }
        // ITU-R BT.2087-0 eq. (3): linear BT.709 → BT.2020.
        let bt2087 = [
            [0.6274, 0.3293, 0.0433],
            [0.0691, 0.9195, 0.0114],
            [0.0164, 0.0880, 0.8956],
        ];
        let m = rgb_to_rgb_matrix(&REC709, &REC2020);
        for i in 0..3 {
            for j in 0..3 {
                assert!(
                    (m[i][j] - bt2087[i][j]).abs() < 5e-5,
                    "[{i}][{j}] {} vs {}",
                    m[i][j],
                    bt2087[i][j]
                );
            }
            let sum: f64 = m[i].iter().sum();
            assert!((sum - 1.0).abs() < 1e-12, "row {i} sums to {sum}");
        }
    }

    #[test]
    fn conversions_keep_white_and_invert() {
        for a in SPACES {
            for b in SPACES {
                let m = rgb_to_rgb_matrix(&a, &b);
                let white = mat_vec(&m, [1.0; 3]);
                for c in white {
                    assert!(
                        (c - 1.0).abs() < 1e-9,
                        "{} → {}: white {white:?}",
                        a.name,
                        b.name
                    );
                }
                let back = mat_mul(&rgb_to_rgb_matrix(&b, &a), &m);
                for (i, row) in back.iter().enumerate() {
                    for (j, v) in row.iter().enumerate() {
                        let want = if i == j { 1.0 } else { 0.0 };
                        assert!((v - want).abs() < 1e-9);
                    }
                }
            }
        }
    }

    #[test]
    fn bradford_maps_white_to_white_and_is_identity_for_equal_whites() {
        let m = bradford_adaptation(D65, ACES_WHITE);
        let got = xyz_to_xy(mat_vec(&m, xy_to_xyz(D65)));
        assert!((got[0] - ACES_WHITE[0]).abs() < 1e-12 && (got[1] - ACES_WHITE[1]).abs() < 1e-12);
        let same = bradford_adaptation(D65, D65);
        for i in 0..3 {
            for j in 0..3 {
                assert!((same[i][j] - IDENTITY[i][j]).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn rec709_to_acescg_matches_the_published_bradford_matrix() {
        // The widely published sRGB/Rec.709 → ACEScg matrix built with Bradford adaptation
        // (e.g. the OpenColorIO ACES configs' "Linear Rec.709 (sRGB)" → ACEScg transform).
        let want = [
            [0.613_097, 0.339_523, 0.047_379],
            [0.070_194, 0.916_354, 0.013_452],
            [0.020_616, 0.109_570, 0.869_815],
        ];
        let m = rgb_to_rgb_matrix(&REC709, &ACES_AP1);
        for i in 0..3 {
            for j in 0..3 {
                assert!(
                    (m[i][j] - want[i][j]).abs() < 2e-4,
                    "[{i}][{j}] {} vs {}",
                    m[i][j],
                    want[i][j]
                );
            }
        }
    }
}
