//! A loaded network in the engine's own layout: each 3×3 convolution's weights repacked as
//! [tap][input channel][output channel, padded to 8] so the CPU kernels read eight output
//! channels with one vector load, and the activation that follows it.

use super::file::{ModelFile, RawTensor};
use super::spec::{Activation, ModelSpec};

/// Output channels are padded to a multiple of this (one AVX2 vector of f32).
pub const LANES: usize = 8;

/// The activation fused after a convolution.
#[derive(Debug, Clone, PartialEq)]
pub enum ConvActivation {
    None,
    Relu,
    Leaky(f32),
    /// Per output channel slope, padded like the bias.
    Prelu(Vec<f32>),
    Silu,
}

impl ConvActivation {
    /// The one scalar definition every CPU path uses (PyTorch: `x if x >= 0 else a·x` for the
    /// ReLU family, `x·σ(x)` for SiLU).
    #[inline]
    pub fn apply(&self, co: usize, v: f32) -> f32 {
        match self {
            ConvActivation::None => v,
            ConvActivation::Relu => v.max(0.0),
            ConvActivation::Leaky(a) => {
                if v >= 0.0 {
                    v
                } else {
                    a * v
                }
            }
            ConvActivation::Prelu(a) => {
                if v >= 0.0 {
                    v
                } else {
                    a[co] * v
                }
            }
            ConvActivation::Silu => v / (1.0 + (-v).exp()),
        }
    }
}

/// One 3×3 convolution with bias (zero padding 1), packed for the engine.
#[derive(Debug, Clone, PartialEq)]
pub struct Conv {
    pub cin: usize,
    pub cout: usize,
    pub cout_padded: usize,
    /// `[(ky·3 + kx)][ci][co]`, `co` padded to `cout_padded` with zeros.
    pub weights: Vec<f32>,
    /// `cout_padded` values, zeros past `cout`.
    pub bias: Vec<f32>,
    pub activation: ConvActivation,
}

impl Conv {
    /// Repacks PyTorch's (cout, cin, 3, 3) weights.
    pub fn from_torch(weight: &RawTensor, bias: &RawTensor, activation: ConvActivation) -> Conv {
        let (cout, cin) = (weight.shape[0], weight.shape[1]);
        let cout_padded = cout.div_ceil(LANES) * LANES;
        let mut weights = vec![0.0; 9 * cin * cout_padded];
        for co in 0..cout {
            for ci in 0..cin {
                for tap in 0..9 {
                    weights[(tap * cin + ci) * cout_padded + co] =
                        weight.values[(co * cin + ci) * 9 + tap];
                }
            }
        }
        let mut b = vec![0.0; cout_padded];
        b[..cout].copy_from_slice(&bias.values);
        let activation = match activation {
            ConvActivation::Prelu(mut a) => {
                a.resize(cout_padded, 0.0);
                ConvActivation::Prelu(a)
            }
            other => other,
        };
        Conv {
            cin,
            cout,
            cout_padded,
            weights,
            bias: b,
            activation,
        }
    }

    /// Weight `(tap, ci, co)` as PyTorch would index it; for tests and other backends.
    pub fn weight(&self, tap: usize, ci: usize, co: usize) -> f32 {
        self.weights[(tap * self.cin + ci) * self.cout_padded + co]
    }
}

/// A network ready to run: its spec and its convolutions, head first.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    pub spec: ModelSpec,
    pub convs: Vec<Conv>,
    pub content_hash: u64,
}

impl Model {
    /// Builds the engine layout from a validated file (names and shapes are already checked).
    pub fn from_file(file: &ModelFile) -> Model {
        let spec = file.spec.clone();
        let t = |name: &str| &file.tensors[name];
        let act = |prefix: &str| match spec.activation {
            Activation::Prelu => {
                ConvActivation::Prelu(t(&format!("{prefix}.alpha")).values.clone())
            }
            Activation::Relu => ConvActivation::Relu,
            Activation::LeakyRelu(a) => ConvActivation::Leaky(a),
            Activation::Silu => ConvActivation::Silu,
        };
        let mut prefixes = vec!["head".to_string()];
        prefixes.extend((0..spec.body_convs).map(|i| format!("body.{i}")));
        let mut convs: Vec<Conv> = prefixes
            .iter()
            .map(|p| Conv::from_torch(t(&format!("{p}.weight")), t(&format!("{p}.bias")), act(p)))
            .collect();
        convs.push(Conv::from_torch(
            t("tail.weight"),
            t("tail.bias"),
            ConvActivation::None,
        ));
        Model {
            spec,
            convs,
            content_hash: file.content_hash,
        }
    }

    /// Parses, validates and packs a model held in memory.
    pub fn from_bytes(bytes: &[u8]) -> Result<Model, super::NnError> {
        Ok(Model::from_file(&super::file::parse(bytes)?))
    }

    /// Output pixels per input pixel along each side (the effect's view; an unshuffled
    /// network's stack runs at `spec.net_scale()`, see `nn::unshuffle`).
    pub fn scale(&self) -> usize {
        self.spec.scale
    }

    /// Input context needed around a region, in input pixels.
    pub fn halo(&self) -> usize {
        self.spec.halo()
    }
}
