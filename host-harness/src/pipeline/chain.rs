//! A chain of effect instances, each pulling its Source frames from the one before, in memory.
//!
//! Node *k*'s Source clip is a loader that renders node *k − 1* at the frame asked for (any
//! frame: a temporal node in the middle of the chain gets the neighbours it fetches), keeping
//! the last few results. The first node reads the pipeline's source. Every node is offered
//! float images, so nothing is quantised between effects.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use crate::effect::ClipInput;
use crate::image::{BitDepth, HostImage};
use crate::instance::{Instance, RenderOptions};
use crate::params::{ParamType, ParamValue};
use crate::Host;

use super::source::FrameSource;
use super::spec::{NodeDevice, NodeSpec, Pipeline, SpecError};

/// Which node failed, and how.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeFailure {
    /// 0-based position in the chain.
    pub node: usize,
    pub label: String,
    pub plugin: String,
    pub message: String,
}

/// Frames a node keeps after rendering them: the last one, for the render threads of the node
/// downstream that ask for it at once (the host keeps what a temporal node looks around).
const NODE_CACHE: usize = 1;

struct Stage {
    index: usize,
    label: String,
    plugin: String,
    inst: Mutex<Instance>,
    cache: Mutex<BTreeMap<i64, Arc<HostImage>>>,
    opts: RenderOptions,
    upstream: Upstream,
    failure: Arc<Mutex<Option<NodeFailure>>>,
}

#[derive(Clone)]
enum Upstream {
    Source(Arc<dyn FrameSource>),
    Node(Arc<Stage>),
}

impl Upstream {
    fn frame(&self, frame: i64) -> Result<Arc<HostImage>, String> {
        match self {
            Upstream::Source(s) => s.frame(frame),
            Upstream::Node(n) => n.frame(frame),
        }
    }
}

impl Stage {
    fn frame(&self, frame: i64) -> Result<Arc<HostImage>, String> {
        if let Some(img) = lock(&self.cache).get(&frame) {
            return Ok(img.clone());
        }
        let mut inst = lock(&self.inst);
        // Another render thread may have made it while this one waited.
        if let Some(img) = lock(&self.cache).get(&frame) {
            return Ok(img.clone());
        }
        // The project follows what this node is given (an upscaler's output is bigger).
        let src = self
            .upstream
            .frame(frame)
            .inspect_err(|e| match self.upstream {
                Upstream::Source(_) => self.record(usize::MAX, "input", "", e),
                Upstream::Node(_) => self.fail(e),
            })?;
        let b = src.bounds();
        inst.set_project_size(b.width() as f64, b.height() as f64);
        drop(src);
        let out = inst.render_frame(frame as f64, &self.opts).map_err(|e| {
            let text = e.to_string();
            self.fail(&text);
            text
        })?;
        let img = Arc::new(out.image);
        let mut cache = lock(&self.cache);
        cache.insert(frame, img.clone());
        while cache.len() > NODE_CACHE {
            // Drop the frame farthest from this one.
            let far = *cache
                .keys()
                .max_by_key(|&&f| (f - frame).abs())
                .unwrap_or(&frame);
            cache.remove(&far);
        }
        Ok(img)
    }

    /// Records the first (deepest) failure: an upstream node fails before the nodes that
    /// asked it for a frame, so the slot names the node at fault.
    fn fail(&self, message: &str) {
        self.record(self.index, &self.label, &self.plugin, message);
    }

    fn record(&self, node: usize, label: &str, plugin: &str, message: &str) {
        let mut f = lock(&self.failure);
        if f.is_none() {
            *f = Some(NodeFailure {
                node,
                label: label.to_string(),
                plugin: plugin.to_string(),
                message: message.to_string(),
            });
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The nodes of a pipeline, instantiated and set up, ready to render frames.
pub struct Chain {
    last: Option<Arc<Stage>>,
    source: Arc<dyn FrameSource>,
    failure: Arc<Mutex<Option<NodeFailure>>>,
    stages: Vec<Arc<Stage>>,
}

/// Closest name by edit distance, for "did you mean".
fn closest<'a>(word: &str, options: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let d = |a: &str, b: &str| {
        let (a, b): (Vec<char>, Vec<char>) = (
            a.to_lowercase().chars().collect(),
            b.to_lowercase().chars().collect(),
        );
        let mut prev: Vec<usize> = (0..=b.len()).collect();
        for i in 1..=a.len() {
            let mut cur = vec![i; b.len() + 1];
            for j in 1..=b.len() {
                let sub = prev[j - 1] + usize::from(a[i - 1] != b[j - 1]);
                cur[j] = sub.min(prev[j] + 1).min(cur[j - 1] + 1);
            }
            prev = cur;
        }
        prev[b.len()]
    };
    options
        .map(|o| (d(word, o), o))
        .filter(|(dist, o)| *dist <= 2.max(o.len() / 3))
        .min()
        .map(|(_, o)| o)
}

impl Chain {
    /// Loads every node's plugin, creates its instance and sets its parameters: a missing
    /// plugin, an unknown parameter or a bad value is an error naming the pipeline line.
    pub fn build(
        host: &Host,
        pipeline: &Pipeline,
        source: Arc<dyn FrameSource>,
        cuda_available: bool,
    ) -> Result<Chain, SpecError> {
        let failure = Arc::new(Mutex::new(None));
        let mut upstream = Upstream::Source(source.clone());
        let mut stages = Vec::new();
        for (index, node) in pipeline.nodes.iter().enumerate() {
            let stage = Arc::new(Self::stage(
                host,
                pipeline,
                node,
                index,
                upstream.clone(),
                failure.clone(),
                cuda_available,
            )?);
            upstream = Upstream::Node(stage.clone());
            stages.push(stage);
        }
        Ok(Chain {
            last: stages.last().cloned(),
            source,
            failure,
            stages,
        })
    }

    fn stage(
        host: &Host,
        pipeline: &Pipeline,
        node: &NodeSpec,
        index: usize,
        upstream: Upstream,
        failure: Arc<Mutex<Option<NodeFailure>>>,
        cuda_available: bool,
    ) -> Result<Stage, SpecError> {
        let err = |line: usize, message: String| SpecError {
            file: pipeline.file.clone(),
            line,
            message: format!("node '{}': {message}", node.label),
        };
        let plugin = host.plugin(&node.plugin).map_err(|e| {
            let fix = if node.plugin.starts_with("org.platerestore.") {
                "build the bundle (`cargo run --release -p platerestore-bundle -- build`) and put \
                 dist/ on OFX_PLUGIN_PATH, as scripts/run.sh does"
            } else {
                "install the plugin's bundle in a folder on OFX_PLUGIN_PATH, or give its bundle \
                 path as `plugin = \"/path/Name.ofx.bundle:identifier\"`"
            };
            err(
                node.line,
                format!("plugin '{}' cannot be loaded: {e}; {fix}", node.plugin),
            )
        })?;
        let contexts = plugin.contexts();
        let ctx = match &node.context {
            Some(c) => c.clone(),
            None if contexts.iter().any(|c| c.ends_with("Filter")) => "filter".into(),
            None if contexts.iter().any(|c| c.ends_with("General")) => "general".into(),
            None => {
                return Err(err(
                    node.line,
                    format!(
                        "{} has no filter or general context (it declares {}), so it cannot sit in a chain",
                        node.plugin,
                        contexts.join(", ")
                    ),
                ))
            }
        };
        let mut inst = plugin
            .instance(&ctx)
            .map_err(|e| err(node.line, format!("cannot create an instance: {e}")))?;
        let inputs = inst.input_clips();
        let main = if inputs.iter().any(|c| c == "Source") {
            "Source".to_string()
        } else {
            inputs.first().cloned().ok_or_else(|| {
                err(
                    node.line,
                    format!(
                        "{} has no input clip, so it cannot process the plate",
                        node.plugin
                    ),
                )
            })?
        };
        let up = upstream.clone();
        inst.set_input(&main, ClipInput::Loader(Arc::new(move |f| up.frame(f))))
            .map_err(|e| err(node.line, e.to_string()))?;

        let params = inst.params();
        for p in &node.params {
            let line = if p.line > 0 { p.line } else { node.line };
            let here = if p.line > 0 {
                String::new()
            } else {
                " (from --set)".into()
            };
            let Some(info) = params.iter().find(|i| {
                i.name == p.name && i.kind != ParamType::Group && i.kind != ParamType::Page
            }) else {
                let names: Vec<&str> = params
                    .iter()
                    .filter(|i| {
                        !matches!(
                            i.kind,
                            ParamType::Group | ParamType::Page | ParamType::PushButton
                        )
                    })
                    .map(|i| i.name.as_str())
                    .collect();
                let hint = closest(&p.name, names.iter().copied())
                    .map(|s| format!(" — did you mean '{s}'?"))
                    .unwrap_or_default();
                return Err(err(
                    line,
                    format!(
                        "{} has no parameter '{}'{here}{hint} (its parameters: {}; `ofxrun describe {}` lists them)",
                        node.plugin,
                        p.name,
                        names.join(", "),
                        node.plugin
                    ),
                ));
            };
            let value = info.parse_value(&p.value).map_err(|m| {
                let options = if info.options.is_empty() {
                    String::new()
                } else {
                    format!(" (options: {})", info.options.join(" | "))
                };
                err(line, format!("parameter '{}'{here}: {m}{options}", p.name))
            })?;
            // A pipeline is a deliberate file: an out-of-range value is refused, not clamped.
            if info.options.is_empty() {
                let vals: Vec<f64> = match &value {
                    ParamValue::Doubles(d) => d.clone(),
                    ParamValue::Ints(i) => i.iter().map(|&v| v as f64).collect(),
                    _ => Vec::new(),
                };
                for (d, v) in vals.iter().enumerate() {
                    let lo = info.min.get(d).copied().unwrap_or(f64::NEG_INFINITY);
                    let hi = info.max.get(d).copied().unwrap_or(f64::INFINITY);
                    if !v.is_finite() || (lo <= hi && (*v < lo || *v > hi)) {
                        return Err(err(
                            line,
                            format!(
                                "parameter '{}'{here} = {v} is outside its range {lo} to {hi}",
                                p.name
                            ),
                        ));
                    }
                }
            }
            inst.set_param(&p.name, value)
                .map_err(|e| err(line, e.to_string()))?;
        }

        let cuda = match node.device {
            NodeDevice::Cpu => Some(false),
            NodeDevice::Cuda => {
                if !cuda_available {
                    return Err(err(
                        node.line,
                        "device = \"cuda\" but this machine has no usable NVIDIA GPU and driver; \
                         use \"auto\" to render on the GPU only where there is one"
                            .into(),
                    ));
                }
                if !inst.cuda_support().supported() {
                    return Err(err(
                        node.line,
                        format!(
                            "device = \"cuda\" but {} does not declare OFX CUDA render",
                            node.plugin
                        ),
                    ));
                }
                Some(true)
            }
            NodeDevice::Auto => Some(cuda_available && inst.cuda_support().supported()),
        };
        let opts = RenderOptions {
            // Float everywhere: an 8-bit source is converted for the first node (which still
            // sees its unmapped depth, so effects that treat 8-bit sources specially can), and
            // no node's output is quantised on its way to the next.
            depth: Some(BitDepth::Float),
            canary: false,
            cuda,
            threads: Some(host.config().threads),
            ..RenderOptions::default()
        };
        Ok(Stage {
            index,
            label: node.label.clone(),
            plugin: plugin.identifier().to_string(),
            inst: Mutex::new(inst),
            cache: Mutex::new(BTreeMap::new()),
            opts,
            upstream,
            failure,
        })
    }

    /// Tells every node a sequence of `first..=last` begins (OFX beginSequenceRender).
    pub fn begin(&self, first: i64, last: i64) -> Result<(), NodeFailure> {
        for s in &self.stages {
            let mut inst = lock(&s.inst);
            inst.set_frame_range(first as f64, last as f64);
            inst.begin_sequence(first as f64, last as f64, 1.0, (1.0, 1.0))
                .map_err(|e| NodeFailure {
                    node: s.index,
                    label: s.label.clone(),
                    plugin: s.plugin.clone(),
                    message: e.to_string(),
                })?;
        }
        Ok(())
    }

    /// Ends the sequence on every node; failures are only logged.
    pub fn end(&self, first: i64, last: i64) {
        for s in &self.stages {
            if let Err(e) = lock(&s.inst).end_sequence(first as f64, last as f64, 1.0, (1.0, 1.0)) {
                log::warn!("node '{}': endSequenceRender: {e}", s.label);
            }
        }
    }

    /// The source frame (what the chain is given) at `frame`.
    pub fn source_frame(&self, frame: i64) -> Result<Arc<HostImage>, String> {
        self.source.frame(frame)
    }

    /// Renders `frame` through every node. On failure: the node that failed, and its message.
    pub fn render(&self, frame: i64) -> Result<Arc<HostImage>, NodeFailure> {
        *lock(&self.failure) = None;
        let r = match &self.last {
            Some(s) => s.frame(frame),
            None => self.source.frame(frame),
        };
        r.map_err(|message| {
            lock(&self.failure).take().unwrap_or(NodeFailure {
                node: usize::MAX,
                label: "input".into(),
                plugin: String::new(),
                message,
            })
        })
    }

    /// Messages plugins posted (errors and warnings), by node label.
    pub fn messages(&self) -> Vec<(String, crate::effect::Message)> {
        self.stages
            .iter()
            .flat_map(|s| {
                let msgs = lock(&s.inst).messages();
                msgs.into_iter().map(move |m| (s.label.clone(), m))
            })
            .collect()
    }
}
