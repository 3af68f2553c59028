//! The greeting example: one binary, two roles. `greeting worker` runs the workflow and its
//! activities; `greeting orchestrator` starts greeting workflows. Everything else (config,
//! connection, health, metrics, logs, shutdown) comes from tk8s-host.

use greeting::workflows::{GreetingActivities, GreetingInput, GreetingWorkflow};
use std::process::ExitCode;

fn main() -> ExitCode {
    tk8s_host::App::new("greeting")
        .task_queue("greeting")
        .workflow_input("World")
        .worker(|options| {
            options.register_workflow::<GreetingWorkflow>()?.register_activities(GreetingActivities);
            Ok(())
        })
        .orchestrator(tk8s_host::typed(|| GreetingWorkflow::run, GreetingInput::parse))
        .main()
}
