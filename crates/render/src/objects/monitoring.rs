//! What Prometheus and Grafana need: metrics Services, ServiceMonitor, alert rules (also as a
//! plain rules file), the dashboard.

use super::*;

/// The admin port of a component's pods. The worker's is headless: its name resolves to every
/// ready worker pod, which is how the scaler finds the workers' `/metrics`.
pub(crate) fn metrics_service(c: &DeployConfig, role: Role) -> Service {
    let component = role.name();
    let mut s = service(c, format!("{}-{component}-metrics", c.app.name), component, "admin", admin_port());
    if role == Role::Worker
        && let Some(spec) = s.spec.as_mut()
    {
        spec.cluster_ip = Some("None".into());
    }
    s
}

/// prometheus-adapter's external rule for the worker's HPA metric (signal `tk8s`: the scaler's
/// desired replicas; `backlog`: the orchestrator's backlog gauge), as the adapter's Helm values
/// take it (`rules.external`). `None` unless the worker has an HPA.
pub fn adapter_rules(c: &DeployConfig) -> Option<Value> {
    let a = c.worker.autoscaling.as_ref().filter(|a| a.mode == Autoscaler::Hpa)?;
    let (metric, by) = match a.signal(c.backlog_by_default()) {
        crate::deploy::Signal::Tk8s => ("tk8s_desired_worker_replicas", "task_queue"),
        crate::deploy::Signal::Backlog if c.worker.controller.is_some() => {
            ("temporal_approximate_backlog_count", "task_type, temporal_worker_deployment_name, temporal_worker_build_id")
        }
        crate::deploy::Signal::Backlog => ("tk8s_task_queue_backlog", "task_queue, task_type"),
    };
    Some(json!({
        "rules": { "external": [{
            "seriesQuery": format!("{metric}{{namespace!=\"\"}}"),
            "resources": { "overrides": { "namespace": { "resource": "namespace" } } },
            "name": { "as": metric },
            "metricsQuery": format!("max by ({by}) (<<.Series>>{{<<.LabelMatchers>>}})"),
        }]},
    }))
}

/// Alert rules (Prometheus rule groups): worker not ready, backlog growing, poll failures, slow
/// schedule-to-start. Rendered as a PrometheusRule and as a plain rules file for promtool.
pub fn alert_groups(c: &DeployConfig) -> Value {
    let tq = c.task_queue();
    let ns = &c.app.namespace;
    let rule = |alert: &str, expr: String, r#for: &str, severity: &str, summary: &str, description: &str| {
        json!({
            "alert": alert,
            "expr": expr,
            "for": r#for,
            "labels": { "severity": severity },
            "annotations": { "summary": summary, "description": description },
        })
    };
    json!([{
        "name": format!("{}-temporal", c.app.name),
        "rules": [
            rule("TemporalWorkerNotReady",
                 format!("min by (namespace, pod) (tk8s_ready{{namespace=\"{ns}\"}}) == 0"), "5m", "warning",
                 "A temporal-k8s host has been unready for 5 minutes",
                 "{{ $labels.pod }} answers 503 on /readyz: not connected to Temporal, polls failing, or stuck draining. See its /readyz body."),
            rule("TemporalBacklogGrowing",
                 format!("tk8s_task_queue_backlog{{task_queue=\"{tq}\"}} > 100 and deriv(tk8s_task_queue_backlog{{task_queue=\"{tq}\"}}[10m]) > 0"), "15m", "warning",
                 "Task queue backlog above 100 and still growing",
                 "{{ $labels.task_type }} backlog on {{ $labels.task_queue }} is {{ $value }}: workers cannot keep up (check autoscaling limits and worker errors)."),
            rule("TemporalPollFailures",
                 format!("sum by (namespace, pod) (rate(temporal_long_request_failure_total{{namespace=\"{ns}\",operation=~\"Poll.*\"}}[5m])) > 0"), "10m", "critical",
                 "Task queue polls keep failing",
                 "{{ $labels.pod }} cannot poll Temporal: check connectivity, TLS material and credentials."),
            rule("TemporalClientCertificateExpiringSoon",
                 format!("min by (namespace, pod) (tk8s_client_certificate_expiry_timestamp_seconds{{namespace=\"{ns}\"}}) - time() < 7 * 86400"), "10m", "warning",
                 "A Temporal client certificate expires within 7 days",
                 "{{ $labels.pod }} presents a client certificate that expires in {{ $value | humanizeDuration }}: check that it is being renewed (e.g. by cert-manager); once it expires the host cannot connect to Temporal."),
            rule("TemporalScheduleToStartSlow",
                 format!("histogram_quantile(0.95, sum by (le, task_queue) (rate(temporal_activity_schedule_to_start_latency_seconds_bucket{{task_queue=\"{tq}\"}}[5m]))) > 10"), "10m", "warning",
                 "Activities wait more than 10 s to start (p95)",
                 "Workers on {{ $labels.task_queue }} lack slots or replicas."),
        ]
    }])
}

pub(crate) fn service_monitor(c: &DeployConfig) -> Object {
    Object {
        file: "servicemonitor.yaml".into(),
        value: json!({
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "ServiceMonitor",
            "metadata": { "name": c.app.name, "namespace": c.app.namespace, "labels": labels(c, "monitoring") },
            "spec": {
                "selector": { "matchLabels": { "app.kubernetes.io/name": c.app.name } },
                "namespaceSelector": { "matchNames": [c.app.namespace] },
                "endpoints": [{ "port": "admin", "path": "/metrics", "interval": "30s" }],
            },
        }),
    }
}

/// Grafana dashboard panels: (title, PromQL). Every expression is checked by promtool in a test.
pub fn dashboard_panels(c: &DeployConfig) -> Vec<(&'static str, String)> {
    let (ns, tq) = (&c.app.namespace, c.task_queue());
    vec![
        ("Ready pods", format!("sum by (pod) (tk8s_ready{{namespace=\"{ns}\"}})")),
        ("Task queue backlog", format!("max by (task_type) (tk8s_task_queue_backlog{{task_queue=\"{tq}\"}})")),
        ("Workflows completed / s", format!("sum(rate(temporal_workflow_completed_total{{task_queue=\"{tq}\"}}[5m]))")),
        ("Workflows failed / s", format!("sum(rate(temporal_workflow_failed_total{{task_queue=\"{tq}\"}}[5m]))")),
        (
            "Activity schedule-to-start p95 (s)",
            format!(
                "histogram_quantile(0.95, sum by (le) (rate(temporal_activity_schedule_to_start_latency_seconds_bucket{{task_queue=\"{tq}\"}}[5m])))"
            ),
        ),
        ("Desired worker replicas (scaler)", format!("max by (task_queue) (tk8s_desired_worker_replicas{{task_queue=\"{tq}\"}})")),
        ("Slot utilisation", format!("max by (worker_type) (tk8s_worker_slot_utilization_ratio{{namespace=\"{ns}\"}})")),
        (
            "Poll failures / s",
            format!("sum by (operation) (rate(temporal_long_request_failure_total{{namespace=\"{ns}\",operation=~\"Poll.*\"}}[5m]))"),
        ),
    ]
}

pub(crate) fn dashboard(c: &DeployConfig) -> ConfigMap {
    let panels: Vec<Value> = dashboard_panels(c)
        .into_iter()
        .enumerate()
        .map(|(i, (title, expr))| {
            json!({
                "id": i + 1,
                "title": title,
                "type": "timeseries",
                "datasource": { "type": "prometheus", "uid": "${datasource}" },
                "gridPos": { "h": 8, "w": 12, "x": (i % 2) * 12, "y": (i / 2) * 8 },
                "targets": [{ "refId": "A", "expr": expr }],
            })
        })
        .collect();
    let dashboard = json!({
        "title": format!("{} (temporal-k8s)", c.app.name),
        "uid": format!("tk8s-{}", c.app.name),
        "schemaVersion": 39,
        "tags": ["temporal", "tk8s"],
        "time": { "from": "now-6h", "to": "now" },
        "templating": { "list": [{ "name": "datasource", "type": "datasource", "query": "prometheus" }] },
        "panels": panels,
    });
    let mut meta = meta(c, format!("{}-dashboard", c.app.name), "monitoring");
    if let Some(l) = meta.labels.as_mut() {
        l.insert("grafana_dashboard".into(), "1".into());
    }
    ConfigMap {
        metadata: meta,
        data: Some(BTreeMap::from([(format!("{}.json", c.app.name), serde_json::to_string_pretty(&dashboard).unwrap_or_default())])),
        ..Default::default()
    }
}

pub(crate) fn prometheus_rule(c: &DeployConfig) -> Object {
    Object {
        file: "prometheusrule.yaml".into(),
        value: json!({
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "PrometheusRule",
            "metadata": { "name": c.app.name, "namespace": c.app.namespace, "labels": labels(c, "monitoring") },
            "spec": { "groups": alert_groups(c) },
        }),
    }
}
