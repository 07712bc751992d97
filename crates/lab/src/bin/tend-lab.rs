//! `tend-lab up N [--dir D]`: start a lab by hand and keep it until Ctrl-C or SIGTERM.

use std::process::ExitCode;

use tend_lab::Lab;

const USAGE: &str = "usage: tend-lab up N [--dir D] [--max-sessions M]";

fn parse(args: &[String]) -> Result<(usize, Option<String>, Option<u32>), String> {
    let mut it = args.iter();
    if it.next().map(String::as_str) != Some("up") {
        return Err(USAGE.into());
    }
    let n = it
        .next()
        .and_then(|s| s.parse::<usize>().ok())
        .ok_or_else(|| USAGE.to_string())?;
    let (mut dir, mut max_sessions) = (None, None);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--dir" => dir = Some(value.clone()),
            "--max-sessions" => {
                max_sessions = Some(value.parse().map_err(|_| format!("bad number {value}"))?)
            }
            _ => return Err(USAGE.into()),
        }
    }
    Ok((n, dir, max_sessions))
}

/// Block the stop signals in this thread before anything else starts, so they queue up
/// for `sigwait` instead of killing us before teardown. Children get a clean mask from std.
fn block_stop_signals() -> libc::sigset_t {
    // SAFETY: sigset_t is initialised by sigemptyset before use; the calls only touch `set`.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            libc::sigaddset(&mut set, sig);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (n, dir, max_sessions) = match parse(&args) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let set = block_stop_signals();
    let mut builder = Lab::builder().hosts(n);
    if let Some(dir) = dir {
        builder = builder.dir(dir);
    }
    if let Some(m) = max_sessions {
        builder = builder.max_sessions(m);
    }
    let lab = match builder.start() {
        Ok(lab) => lab,
        Err(e) => {
            eprintln!("tend-lab: {e}");
            return ExitCode::FAILURE;
        }
    };
    for h in lab.hosts() {
        println!("{} {}:{}", h.name, h.address, h.port);
    }
    println!("inventory {}", lab.inventory_ini().display());
    println!(
        "ssh -F {} {}",
        lab.ssh_config().display(),
        lab.hosts()[0].name
    );
    println!("lab up: {n} hosts; Ctrl-C or SIGTERM tears it down");
    let mut sig: libc::c_int = 0;
    // SAFETY: `set` is a valid, initialised signal set and `sig` a valid out-pointer.
    unsafe {
        libc::sigwait(&set, &mut sig);
    }
    match lab.stop() {
        Ok(()) => {
            eprintln!("tend-lab: torn down");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("tend-lab: {e}");
            ExitCode::FAILURE
        }
    }
}
