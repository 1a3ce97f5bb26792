//! Writes every motif's icon to a folder, to look at them: `cargo run -p platerestore-bundle --example icons -- DIR`.
fn main() {
    let dir = std::env::args().nth(1).unwrap_or_else(|| ".".into());
    for id in [
        "org.platerestore.InverseToneMap",
        "org.platerestore.Grain",
        "org.platerestore.Upscale",
    ] {
        let path = std::path::Path::new(&dir).join(format!("{id}.png"));
        if let Err(e) = std::fs::write(&path, platerestore_bundle::icon::render_png(id, 0)) {
            eprintln!("{}: {e}", path.display());
        }
    }
}
