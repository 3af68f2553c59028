//! @APP@: one binary, every role. `@APP@ worker` runs the workflows and activities,
//! `@APP@ orchestrator` starts workflows; configuration, the connection to Temporal, health,
//! metrics, logs and a graceful shutdown come from tk8s-host. `@APP@ --help` lists the rest.

mod workflows;

use std::process::ExitCode;
use workflows::{HelloActivities, HelloWorkflow};

fn main() -> ExitCode {
    tk8s_host::App::new("@APP@")
        // What `tk8s render` reads back (`@APP@ config defaults`): the deploy config cannot
        // disagree with it.
        .task_queue("@APP@")
        .workflow_input("World")
        .worker(|options| {
            options.register_workflow::<HelloWorkflow>()?.register_activities(HelloActivities);
            Ok(())
        })
        .orchestrator(tk8s_host::typed(|| HelloWorkflow::run, |input: &str| input.to_string()))
        .main()
}
