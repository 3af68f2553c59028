//! KEDA's external scaler protocol, served from the latest [`Decision`]: KEDA needs no
//! Prometheus pipeline to scale on the signal.
//!
//! - `GetMetricSpec`: one metric, `tk8s_desired_worker_replicas`, with target 1. KEDA hands it
//!   to the HPA it manages as an `AverageValue` target, so the HPA's own formula,
//!   `ceil(value / target)`, gives exactly the desired count.
//! - `GetMetrics`: the desired count now.
//! - `IsActive` / `StreamIsActive`: desired > 0 (scale from zero at once; to zero only when
//!   the rule says so, after its idle period). The stream sends the current state on open and
//!   every change after.

use crate::rule::Decision;
use std::pin::Pin;
use tokio::sync::watch;
use tokio_stream::wrappers::WatchStream;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status};

/// The generated protocol (server and client).
pub mod proto {
    tonic::include_proto!("externalscaler");
}

use proto::external_scaler_server::{ExternalScaler, ExternalScalerServer};
use proto::{GetMetricSpecResponse, GetMetricsRequest, GetMetricsResponse, IsActiveResponse, MetricSpec, MetricValue, ScaledObjectRef};

/// The one metric served.
pub const METRIC: &str = "tk8s_desired_worker_replicas";

/// Serves the latest decision. `None` until the first decision: KEDA is told `Unavailable`
/// rather than a made-up number.
#[derive(Clone)]
pub struct Service {
    latest: watch::Receiver<Option<Decision>>,
}

impl Service {
    pub fn new(latest: watch::Receiver<Option<Decision>>) -> Service {
        Service { latest }
    }

    /// The tonic service to add to a server.
    pub fn server(self) -> ExternalScalerServer<Service> {
        ExternalScalerServer::new(self)
    }

    fn desired(&self) -> Result<u32, Status> {
        self.latest
            .borrow()
            .map(|d| d.desired)
            .ok_or_else(|| Status::unavailable("no scaling decision yet: the scaler has not read the task queue"))
    }
}

type ActiveStream = Pin<Box<dyn Stream<Item = Result<IsActiveResponse, Status>> + Send>>;

#[tonic::async_trait]
impl ExternalScaler for Service {
    async fn is_active(&self, _: Request<ScaledObjectRef>) -> Result<Response<IsActiveResponse>, Status> {
        Ok(Response::new(IsActiveResponse { result: self.desired()? > 0 }))
    }

    type StreamIsActiveStream = ActiveStream;

    async fn stream_is_active(&self, _: Request<ScaledObjectRef>) -> Result<Response<ActiveStream>, Status> {
        let mut last = None;
        let stream = WatchStream::new(self.latest.clone()).filter_map(move |d| {
            let active = d?.desired > 0;
            if last == Some(active) {
                return None;
            }
            last = Some(active);
            Some(Ok(IsActiveResponse { result: active }))
        });
        Ok(Response::new(Box::pin(stream)))
    }

    async fn get_metric_spec(&self, _: Request<ScaledObjectRef>) -> Result<Response<GetMetricSpecResponse>, Status> {
        Ok(Response::new(GetMetricSpecResponse {
            metric_specs: vec![MetricSpec { metric_name: METRIC.into(), target_size: 1, target_size_float: 1.0 }],
        }))
    }

    async fn get_metrics(&self, request: Request<GetMetricsRequest>) -> Result<Response<GetMetricsResponse>, Status> {
        let asked = &request.get_ref().metric_name;
        if !asked.is_empty() && asked != METRIC && !asked.ends_with(METRIC) {
            return Err(Status::not_found(format!("unknown metric {asked:?}; this scaler serves {METRIC}")));
        }
        let desired = self.desired()?;
        Ok(Response::new(GetMetricsResponse {
            metric_values: vec![MetricValue {
                metric_name: METRIC.into(),
                metric_value: i64::from(desired),
                metric_value_float: f64::from(desired),
            }],
        }))
    }
}
