//! KEDA's external scaler protocol end to end over a real gRPC connection: the server from
//! `tk8s_scaler::keda` and a client generated from the same protocol definition KEDA uses.

use std::time::Duration;
use tk8s_scaler::Decision;
use tk8s_scaler::keda::proto::external_scaler_client::ExternalScalerClient;
use tk8s_scaler::keda::proto::{GetMetricsRequest, ScaledObjectRef};
use tk8s_scaler::keda::{METRIC, Service};
use tokio::sync::watch;

fn object() -> ScaledObjectRef {
    ScaledObjectRef { name: "greeting-worker".into(), namespace: "greeting".into(), scaler_metadata: Default::default() }
}

#[tokio::test]
async fn keda_gets_the_spec_the_metric_and_activity_from_the_latest_decision() {
    let (tx, rx) = watch::channel(None::<Decision>);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(Service::new(rx).server())
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    let mut client = ExternalScalerClient::connect(format!("http://{addr}")).await.unwrap();

    let spec = client.get_metric_spec(object()).await.unwrap().into_inner();
    assert_eq!(spec.metric_specs.len(), 1);
    assert_eq!(
        (spec.metric_specs[0].metric_name.as_str(), spec.metric_specs[0].target_size_float),
        (METRIC, 1.0),
        "target 1: the HPA's ceil(value / target) is the desired count"
    );

    let ask = || GetMetricsRequest { scaled_object_ref: Some(object()), metric_name: format!("s0-{METRIC}") };
    let early = client.get_metrics(ask()).await.unwrap_err();
    assert_eq!(early.code(), tonic::Code::Unavailable, "no made-up number before the first decision");

    let mut stream = client.stream_is_active(object()).await.unwrap().into_inner();
    tx.send(Some(Decision { desired: 3, raw: 3, ..Default::default() })).unwrap();
    let values = client.get_metrics(ask()).await.unwrap().into_inner().metric_values;
    assert_eq!((values[0].metric_value, values[0].metric_value_float), (3, 3.0));
    assert!(client.is_active(object()).await.unwrap().into_inner().result);
    let first = tokio::time::timeout(Duration::from_secs(5), stream.message()).await.unwrap().unwrap().unwrap();
    assert!(first.result, "the stream reports the state it opens on");

    tx.send(Some(Decision::default())).unwrap();
    assert!(!client.is_active(object()).await.unwrap().into_inner().result, "desired 0 is inactive: KEDA may scale to zero");
    let next = tokio::time::timeout(Duration::from_secs(5), stream.message()).await.unwrap().unwrap().unwrap();
    assert!(!next.result, "the stream reports the change");

    let wrong = client.get_metrics(GetMetricsRequest { scaled_object_ref: Some(object()), metric_name: "cpu".into() }).await.unwrap_err();
    assert_eq!(wrong.code(), tonic::Code::NotFound);
}
