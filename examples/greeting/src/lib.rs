//! The greeting example's workflow and activities, as a library so that the benchmark workers
//! (`bench/workers/rust`) run exactly the code the example runs.

pub mod workflows;
