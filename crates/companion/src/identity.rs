//! Which worker identities belong to this pod. Every SDK's default identity is
//! `<pid>@<hostname>`, and a pod's hostname is its name, so `*@{pod}` finds this pod's workers
//! without a line of their code changed; a worker that sets its own identity gets its own
//! pattern (`companion.identity`).

/// Patterns with `{pod}` filled in: `*` matches any text (also none), everything else itself.
#[derive(Debug, Clone)]
pub struct Identities(Vec<String>);

impl Identities {
    pub fn new(patterns: &[String], pod: &str) -> Identities {
        Identities(patterns.iter().map(|p| p.replace("{pod}", pod)).collect())
    }

    pub fn matches(&self, identity: &str) -> bool {
        self.0.iter().any(|p| glob(p, identity))
    }
}

fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(i) => rest = &rest[i + middle.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_pattern_finds_this_pods_workers_and_no_other_pods() {
        let ids = Identities::new(&["*@{pod}".into()], "orders-worker-7d9f-abcde");
        assert!(ids.matches("1@orders-worker-7d9f-abcde"), "a Python worker as PID 1");
        assert!(ids.matches("4711@orders-worker-7d9f-abcde"));
        assert!(!ids.matches("1@orders-worker-7d9f-zzzzz"), "another pod of the same Deployment");
        assert!(!ids.matches("1@orders-worker-7d9f-abcde-x"), "a pod whose name starts like ours");
        assert!(!ids.matches("1@orders-worker-7d9f-abcde/orders/worker"), "a tk8s host's identity needs its own pattern");
        let hosted = Identities::new(&["*@{pod}".into(), "*@{pod}/*".into()], "p");
        assert!(hosted.matches("12@p/greeting/worker"));
        assert!(Identities::new(&["worker-{pod}".into()], "p").matches("worker-p"));
        assert!(!Identities::new(&["worker-{pod}".into()], "p").matches("worker-q"));
        assert!(glob("a*b*c", "aXbYc") && !glob("a*b*c", "aXcYb") && glob("*", ""));
    }
}
