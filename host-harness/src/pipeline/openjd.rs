//! Open Job Description job templates (specification `jobtemplate-2023-09`, the format AWS
//! Deadline Cloud and other farm managers run): one step whose tasks each render a chunk of
//! frames with `ofxrun pipeline … --frames <chunk> --resume`, so a retried task only renders
//! what its first attempt did not finish.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

/// What the template runs.
#[derive(Debug, Clone)]
pub struct JobSpec {
    /// Absolute path of the `ofxrun` a worker runs.
    pub ofxrun: PathBuf,
    /// Absolute path of the pipeline file.
    pub pipeline: PathBuf,
    /// The pipeline's name (job name).
    pub name: String,
    /// Input and output as workers must see them (absolute).
    pub input: String,
    pub output: String,
    /// `--set` overrides passed to every task.
    pub set: Vec<String>,
    /// OFX_PLUGIN_PATH for the workers.
    pub plugin_path: String,
    pub frames: Vec<i64>,
    pub chunk: usize,
}

/// `1-10`, `1-5,7,9-12`: frames written as runs.
pub fn frames_text(frames: &[i64]) -> String {
    let mut parts = Vec::new();
    let mut i = 0;
    while i < frames.len() {
        let mut j = i;
        while j + 1 < frames.len() && frames[j + 1] == frames[j] + 1 {
            j += 1;
        }
        parts.push(if i == j {
            frames[i].to_string()
        } else {
            format!("{}-{}", frames[i], frames[j])
        });
        i = j + 1;
    }
    parts.join(",")
}

/// The chunks tasks render, in order.
pub fn chunks(frames: &[i64], chunk: usize) -> Vec<String> {
    frames.chunks(chunk.max(1)).map(frames_text).collect()
}

/// A PATH job parameter. Its value comes from the bundle's parameter files: the specification
/// only allows defaults inside the template's folder, and paths here are the workers' own.
fn path_param(name: &str, object: &str, flow: &str, what: &str) -> Value {
    json!({
        "name": name,
        "type": "PATH",
        "objectType": object,
        "dataFlow": flow,
        "description": what
    })
}

/// The values of the template's parameters, as (name, value).
pub fn parameter_values(job: &JobSpec) -> Vec<(String, String)> {
    vec![
        ("Ofxrun".into(), job.ofxrun.display().to_string()),
        ("Pipeline".into(), job.pipeline.display().to_string()),
        ("Input".into(), job.input.clone()),
        ("Output".into(), job.output.clone()),
        ("PluginPath".into(), job.plugin_path.clone()),
    ]
}

/// A job bundle's files: `template.json`, `parameter_values.json` (the job bundle format farm
/// submitters read: `{"parameterValues": [{"name", "value"}]}`) and `openjd-params.json` (the
/// `{name: value}` map `openjd run -p file://…` reads).
pub fn bundle_files(job: &JobSpec) -> Vec<(&'static str, Value)> {
    let values = parameter_values(job);
    let list: Vec<Value> = values
        .iter()
        .map(|(n, v)| json!({ "name": n, "value": v }))
        .collect();
    let map: serde_json::Map<String, Value> = values
        .into_iter()
        .map(|(n, v)| (n, Value::String(v)))
        .collect();
    vec![
        ("template.json", template(job)),
        ("parameter_values.json", json!({ "parameterValues": list })),
        ("openjd-params.json", Value::Object(map)),
    ]
}

/// The job template as JSON (`openjd check` validates it).
pub fn template(job: &JobSpec) -> Value {
    let mut args = vec![
        json!("pipeline"),
        json!("{{Param.Pipeline}}"),
        json!("--input"),
        json!("{{Param.Input}}"),
        json!("--output"),
        json!("{{Param.Output}}"),
        json!("--frames"),
        json!("{{Task.Param.Frames}}"),
        json!("--resume"),
        json!("--progress"),
        json!("lines"),
    ];
    for s in &job.set {
        args.push(json!("--set"));
        args.push(json!(s));
    }
    let range = frames_text(&job.frames);
    json!({
        "specificationVersion": "jobtemplate-2023-09",
        "name": format!("PlateRestore {} frames {range}", job.name),
        "description": format!(
            "Renders the PlateRestore pipeline '{}' ({}) in chunks of {} frames with ofxrun.",
            job.name,
            job.pipeline.display(),
            job.chunk
        ),
        "parameterDefinitions": [
            path_param("Ofxrun", "FILE", "NONE", "The ofxrun executable on the workers."),
            path_param("Pipeline", "FILE", "IN", "The pipeline file (TOML)."),
            {
                "name": "Input",
                "type": "STRING",
                "description": "Input clip, image sequence or 'builtin', as the workers see it."
            },
            {
                "name": "Output",
                "type": "STRING",
                "description": "Output sequence pattern (#### or %04d), as the workers see it."
            },
            {
                "name": "PluginPath",
                "type": "STRING",
                "default": "",
                "description": "OFX_PLUGIN_PATH on the workers: folders holding the OFX bundles the pipeline uses."
            }
        ],
        "jobEnvironments": [
            {
                "name": "OfxPlugins",
                "description": "Where ofxrun finds the pipeline's plugins.",
                "variables": { "OFX_PLUGIN_PATH": "{{Param.PluginPath}}" }
            }
        ],
        "steps": [
            {
                "name": "Render",
                "parameterSpace": {
                    "taskParameterDefinitions": [
                        { "name": "Frames", "type": "STRING", "range": chunks(&job.frames, job.chunk) }
                    ]
                },
                "script": {
                    "actions": {
                        "onRun": { "command": "{{Param.Ofxrun}}", "args": args }
                    }
                }
            }
        ]
    })
}

/// Absolute form of a path or sequence pattern (relative to the current directory); `builtin`
/// and absolute paths are returned as they are.
pub fn absolute(p: &str) -> String {
    if p == "builtin" || Path::new(p).is_absolute() {
        return p.to_string();
    }
    match std::env::current_dir() {
        Ok(d) => d.join(p).display().to_string(),
        Err(_) => p.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_written_as_runs_and_chunked_in_order() {
        assert_eq!(frames_text(&[1, 2, 3, 5, 7, 8]), "1-3,5,7-8");
        assert_eq!(
            chunks(&(1..=25).collect::<Vec<_>>(), 10),
            ["1-10", "11-20", "21-25"]
        );
        assert_eq!(chunks(&[1, 3, 5, 7], 3), ["1,3,5", "7"]);
        // Every chunk parses back to exactly its frames.
        let frames: Vec<i64> = (1..=100).step_by(3).collect();
        let back: Vec<i64> = chunks(&frames, 7)
            .iter()
            .flat_map(|c| crate::io::FrameList::parse(c).unwrap().frames().to_vec())
            .collect();
        assert_eq!(back, frames);
    }
}
