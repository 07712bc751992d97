//! Integration tests: the `tend` binary against real OpenSSH lab hosts.
//!
//! One test binary (libtest-mimic harness) so the lab machinery is shared. Every test starts
//! its own lab, so tests can change host state freely and run in parallel.

mod conformance;
mod faults;
mod hostile;
mod reports;
mod soak;
mod support;
mod tests;
mod vault;

fn main() -> std::process::ExitCode {
    let args = libtest_mimic::Arguments::from_args();
    let mut trials: Vec<_> = tests::all()
        .into_iter()
        .chain(reports::all())
        .chain(soak::all())
        .chain(faults::all())
        .map(|(name, f)| {
            libtest_mimic::Trial::test(name, move || f().map_err(|e| format!("{e:#}").into()))
        })
        .collect();
    trials.extend(hostile::all().into_iter().map(|(name, f)| {
        libtest_mimic::Trial::test(name, move || f().map_err(|e| format!("{e:#}").into()))
    }));
    trials.extend(conformance::trials());
    trials.extend(vault::trials());
    libtest_mimic::run(&args, trials).exit_code()
}
