//! Exit codes, sysexits-style, shared by `tk8s` and every hosted app so that a script or a
//! Kubernetes event means the same thing whichever binary exited. All `u8`, as
//! `std::process::ExitCode` takes them.

/// Everything went as asked.
pub const OK: u8 = 0;
/// The work failed (a workflow, a rollout, lint findings, a replay that does not match).
pub const FAILURE: u8 = 1;
/// The command line is malformed (EX_USAGE).
pub const USAGE: u8 = 64;
/// An input is not what it must be: a manifest that is not YAML objects (EX_DATAERR).
pub const DATA: u8 = 65;
/// An input cannot be read (EX_NOINPUT).
pub const NO_INPUT: u8 = 66;
/// A service this needs cannot be reached: the Kubernetes API, Temporal (EX_UNAVAILABLE).
pub const UNAVAILABLE: u8 = 69;
/// The shutdown's hard deadline was hit before the drain finished (EX_SOFTWARE).
pub const DEADLINE: u8 = 70;
/// An output cannot be written (EX_CANTCREAT).
pub const CANT_CREATE: u8 = 73;
/// The configuration is invalid (EX_CONFIG).
pub const CONFIG: u8 = 78;
/// A second signal during the drain: exit at once (128 + SIGINT, as shells report it).
pub const SECOND_SIGNAL: u8 = 130;

/// One line for `--help`, so every binary describes its codes the same way.
pub const HELP: &str =
    "Exit codes: 0 ok, 1 failure, 64 usage error, 70 shutdown hard deadline hit, 78 configuration error, 130 second signal.";
