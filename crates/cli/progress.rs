//! The live progress line on a terminal: elapsed time, the play, the current task and how
//! many hosts have answered it, redrawn on stderr while a run is long enough to need it.
//!
//! The printer writes its lines through [`Progress::around`], which takes the line away first
//! and holds it away while the text goes out, so the two never mix on the screen.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::lock;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Nothing is drawn during the first moments: short runs never see the line.
const QUIET_START: Duration = Duration::from_millis(1500);
const TICK: Duration = Duration::from_millis(200);

#[derive(Default)]
struct State {
    play: String,
    play_hosts: usize,
    task: String,
    tasks_started: usize,
    answered: usize,
    drawn: bool,
}

pub struct Progress {
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    ticker: Mutex<Option<JoinHandle<()>>>,
}

impl Progress {
    /// Starts the redraw thread.
    pub fn start() -> Self {
        let state = Arc::new(Mutex::new(State::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let started = Instant::now();
        let ticker = {
            let state = state.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(TICK);
                    if started.elapsed() < QUIET_START || stop.load(Ordering::Relaxed) {
                        continue;
                    }
                    let mut s = lock(&state);
                    let line = status_line(&s, started.elapsed(), width());
                    let mut err = std::io::stderr().lock();
                    let _ = write!(err, "\r\x1b[2K{line}");
                    let _ = err.flush();
                    s.drawn = true;
                }
            })
        };
        Progress {
            state,
            stop,
            ticker: Mutex::new(Some(ticker)),
        }
    }

    pub fn play(&self, name: &str, hosts: usize) {
        let mut s = lock(&self.state);
        s.play = name.to_string();
        s.play_hosts = hosts;
        s.task.clear();
        s.tasks_started = 0;
        s.answered = 0;
    }

    pub fn task(&self, name: &str) {
        let mut s = lock(&self.state);
        s.task = name.to_string();
        s.tasks_started += 1;
        s.answered = 0;
    }

    pub fn host_answered(&self) {
        lock(&self.state).answered += 1;
    }

    /// Runs `write` with the progress line taken off the screen.
    pub fn around(&self, write: impl FnOnce()) {
        let mut s = lock(&self.state);
        clear(&mut s);
        write();
    }

    /// Stops redrawing and takes the line away.
    pub fn finish(&self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(handle) = lock(&self.ticker).take() {
            let _ = handle.join();
        }
        clear(&mut lock(&self.state));
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

fn clear(s: &mut State) {
    if s.drawn {
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[2K");
        let _ = err.flush();
        s.drawn = false;
    }
}

/// The terminal's width from `$COLUMNS`, else 80: a line wider than the terminal would wrap
/// and could not be taken back with one carriage return.
fn width() -> usize {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse::<usize>().ok())
        .filter(|w| *w >= 20)
        .unwrap_or(80)
}

fn status_line(s: &State, elapsed: Duration, width: usize) -> String {
    let secs = elapsed.as_secs();
    let mut line = format!("⏱ {}:{:02}", secs / 60, secs % 60);
    if !s.play.is_empty() {
        line.push_str(&format!(" · PLAY [{}]", s.play));
    }
    if !s.task.is_empty() {
        line.push_str(&format!(
            " · task {} [{}] · {}/{} hosts",
            s.tasks_started, s.task, s.answered, s.play_hosts
        ));
    }
    let limit = width.saturating_sub(1);
    if line.chars().count() > limit {
        line = line.chars().take(limit.saturating_sub(1)).collect();
        line.push('…');
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_says_where_the_run_is_and_fits_the_terminal() {
        let s = State {
            play: "web".into(),
            play_hosts: 4,
            task: "copy config".into(),
            tasks_started: 7,
            answered: 3,
            drawn: false,
        };
        let line = status_line(&s, Duration::from_secs(75), 200);
        assert_eq!(
            line,
            "⏱ 1:15 · PLAY [web] · task 7 [copy config] · 3/4 hosts"
        );
        let short = status_line(&s, Duration::from_secs(75), 30);
        assert_eq!(short.chars().count(), 29);
        assert!(short.ends_with('…'));
    }
}
