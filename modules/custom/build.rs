//! Generates `link()` from this crate's `[dependencies]`: every module crate listed there gets
//! its `link()` called, so adding a crate is one line in `Cargo.toml` and no code.

use std::fmt::Write as _;
use std::path::PathBuf;

fn main() {
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let manifest_path = manifest_dir.join("Cargo.toml");
    println!("cargo:rerun-if-changed={}", manifest_path.display());
    let manifest = match std::fs::read_to_string(&manifest_path) {
        Ok(text) => text,
        Err(e) => panic!("cannot read {}: {e}", manifest_path.display()),
    };
    let mut body = String::new();
    for name in dependency_names(&manifest) {
        let ident = name.replace('-', "_");
        let _ = writeln!(body, "    ::{ident}::link();");
    }
    let code = format!(
        "/// Keeps every custom module crate's registrations in the binary.\npub fn link() {{\n{body}}}\n"
    );
    let out = PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default()).join("link.rs");
    if let Err(e) = std::fs::write(&out, code) {
        panic!("cannot write {}: {e}", out.display());
    }
}

/// The keys of the `[dependencies]` table (the names code refers to the crates by).
fn dependency_names(manifest: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut in_dependencies = false;
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_dependencies = line == "[dependencies]";
            continue;
        }
        if !in_dependencies || line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some((key, _)) = line.split_once('=') {
            let key = key.trim().trim_matches('"');
            if let Some(name) = key.strip_suffix(".workspace").or(Some(key)) {
                names.push(name.to_string());
            }
        }
    }
    names
}
