//! Shared by the fuzz tests of tend-yaml, tend-template, tend-inventory and tend-playbook
//! (included with `#[path]`): the corpus replay, the bounded runner that turns a hang or a
//! panic into a failure naming the input, and the proptest settings.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use proptest::test_runner::Config;

/// How long one input may take before it counts as a hang. Inputs are at most a few KiB;
/// anything near this on an unoptimised build under load is a real hang, not a slow machine.
pub const LIMIT: Duration = Duration::from_secs(10);

/// The stack every case runs on: what tokio's workers and spawned threads get, and less than
/// the main thread's, so deep recursion fails here before it can fail in production.
const STACK: usize = 2 * 1024 * 1024;

/// The corpus directory for one kind of input (`yaml`, `template`, `inventory`, `playbook`).
pub fn corpus_dir(kind: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fuzz-corpus")
        .join(kind)
}

/// Every seed of one corpus, by file name, in name order. Files are bytes: a seed need not be
/// UTF-8 (the callers decide what invalid UTF-8 means for their layer).
pub fn corpus(kind: &str) -> Vec<(String, Vec<u8>)> {
    let dir = corpus_dir(kind);
    let mut seeds: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus {}: {e}", dir.display()))
        .map(|entry| {
            let entry = entry.unwrap_or_else(|e| panic!("corpus {}: {e}", dir.display()));
            let name = entry.file_name().to_string_lossy().into_owned();
            let bytes = std::fs::read(entry.path())
                .unwrap_or_else(|e| panic!("corpus {}: {e}", entry.path().display()));
            (name, bytes)
        })
        .collect();
    seeds.sort();
    assert!(
        seeds.len() >= 5,
        "corpus {} holds only {} seeds",
        dir.display(),
        seeds.len()
    );
    seeds
}

/// Runs `f` on its own thread with a 2 MiB stack and returns its result; panics (failing the
/// test, with `what` in the message) if `f` panicked or did not finish within [`LIMIT`].
pub fn bounded<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    // A stack overflow aborts the process before proptest can report the input; with
    // TEND_FUZZ_LAST=<dir> every case is written there first, one file per test.
    if let Some(dir) = std::env::var_os("TEND_FUZZ_LAST") {
        let test = std::thread::current()
            .name()
            .unwrap_or("main")
            .replace("::", "-");
        let _ = std::fs::write(Path::new(&dir).join(test), what);
    }
    let (tx, rx) = mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("fuzz-case".into())
        .stack_size(STACK)
        .spawn(move || {
            // A send error only means the test already gave up on this case.
            let _ = tx.send(f());
        });
    let handle = match spawned {
        Ok(handle) => handle,
        Err(e) => panic!("cannot start a thread for {what}: {e}"),
    };
    match rx.recv_timeout(LIMIT) {
        Ok(value) => {
            let _ = handle.join();
            value
        }
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("hang: no answer within {LIMIT:?} for {what}")
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            let message = match handle.join() {
                Err(payload) => payload
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default(),
                Ok(()) => String::new(),
            };
            panic!("panic: {message} for {what}")
        }
    }
}

/// proptest settings for every fuzz property: `cases` per run unless `PROPTEST_CASES` asks
/// for more (or fewer), and no failure-persistence files (see the corpus README: a failure
/// found is minimised by hand into a corpus seed instead).
pub fn config(cases: u32) -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(cases);
    Config {
        cases,
        failure_persistence: None,
        // A shrink re-runs the bounded case; keep the time a failing run takes reasonable.
        max_shrink_iters: 2000,
        ..Config::default()
    }
}

/// The 1-based line count of `text` as a position may address it: one past the last line is
/// allowed (an error "at end of input" after a final newline).
pub fn max_line(text: &str) -> u32 {
    u32::try_from(text.lines().count() + 1).unwrap_or(u32::MAX)
}

/// Applies a list of edits to `text`: each edit is (position per mille, kind, piece). Kinds:
/// 0 inserts `piece`, 1 deletes a few characters, 2 duplicates the line at the position,
/// 3 swaps in a tab or a space indentation. Positions land on character boundaries.
pub fn mutate(text: &str, edits: &[(u16, u8, String)]) -> String {
    let mut out = text.to_string();
    for (at, kind, piece) in edits {
        let boundaries: Vec<usize> = out
            .char_indices()
            .map(|(i, _)| i)
            .chain([out.len()])
            .collect();
        let idx = boundaries[(*at as usize * (boundaries.len() - 1)) / 1000];
        match kind % 4 {
            0 => out.insert_str(idx, piece),
            1 => {
                let end = boundaries
                    .iter()
                    .copied()
                    .find(|&b| b >= idx + 1 + piece.len() % 4)
                    .unwrap_or(out.len());
                out.replace_range(idx..end, "");
            }
            2 => {
                let start = out[..idx].rfind('\n').map_or(0, |n| n + 1);
                let end = out[idx..].find('\n').map_or(out.len(), |n| idx + n + 1);
                let line = out[start..end].to_string();
                out.insert_str(start, &line);
            }
            _ => {
                let start = out[..idx].rfind('\n').map_or(0, |n| n + 1);
                out.insert_str(start, if piece.len() % 2 == 0 { "\t" } else { " " });
            }
        }
    }
    out
}

/// proptest strategy for edits as [`mutate`] takes them, pieces drawn from `pieces`.
pub fn edits(
    pieces: &'static [&'static str],
    max: usize,
) -> impl proptest::strategy::Strategy<Value = Vec<(u16, u8, String)>> {
    use proptest::prelude::*;
    proptest::collection::vec(
        (
            0u16..=1000,
            any::<u8>(),
            prop::sample::select(pieces).prop_map(str::to_string),
        ),
        0..max,
    )
}
