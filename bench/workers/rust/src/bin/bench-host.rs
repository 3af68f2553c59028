//! The benchmark's host worker: exactly what an app on tk8s-host is (`App::main`), with every
//! scenario registered. Configured by the same settings as any hosted app.

fn main() -> std::process::ExitCode {
    tk8s_host::App::new("bench").task_queue("bench").worker(tk8s_bench::register).main()
}
