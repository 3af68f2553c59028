//! The table of roles: every command a temporal-k8s binary runs that loads settings. One row
//! per role drives the hosted app's and `tk8s`'s command trees (name, help, which settings each
//! takes), the host's errors, render's per-role objects and the lint's expectations, so adding a
//! role means a row here and the role's own module.

use std::fmt;

/// Something a temporal-k8s binary runs: a long-running service (rendered as a Deployment) or a
/// one-shot command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// Polls the task queue and runs workflows and activities.
    Worker,
    /// Starts workflows.
    Orchestrator,
    /// Serves a scaling signal for the worker's task queue (to KEDA, and as gauges).
    Scaler,
    /// Exits 0 once Temporal answers (init containers).
    Check,
    /// Asks this container's own admin server (container HEALTHCHECK).
    Probe,
    /// `tk8s codec-server`: decodes payloads for the Web UI and CLI.
    CodecServer,
    /// `tk8s companion`: probes and metrics for a worker written with any Temporal SDK.
    Companion,
    /// Replays workflow histories against this build's workflow code (the replay gate).
    Replay,
}

/// Which binary offers a role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binary {
    /// Every app built on tk8s-host (`greeting worker`).
    App,
    /// The `tk8s` tool (`tk8s codec-server`).
    Tk8s,
}

/// How a role runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifetime {
    /// Runs until signalled: an admin server or port, a drain on SIGTERM, its own Deployment.
    Service,
    /// Does one thing and exits with a code that says how it went.
    OneShot,
}

/// One row of [`ROLES`].
#[derive(Debug, Clone, Copy)]
pub struct RoleSpec {
    pub role: Role,
    /// Command name, container argument and the `app.kubernetes.io/component` label.
    pub name: &'static str,
    /// One line for `--help`.
    pub about: &'static str,
    pub binary: Binary,
    pub lifetime: Lifetime,
}

/// Every role, in the order command trees list them.
pub const ROLES: &[RoleSpec] = &[
    RoleSpec {
        role: Role::Worker,
        name: "worker",
        about: "Poll the task queue and run workflows and activities",
        binary: Binary::App,
        lifetime: Lifetime::Service,
    },
    RoleSpec {
        role: Role::Orchestrator,
        name: "orchestrator",
        about: "Start workflows (mode: once, interval, rate, schedule)",
        binary: Binary::App,
        lifetime: Lifetime::Service,
    },
    RoleSpec {
        role: Role::Scaler,
        name: "scaler",
        about: "Serve a scaling signal for the task queue: desired worker replicas, to KEDA (gRPC) and on /metrics",
        binary: Binary::App,
        lifetime: Lifetime::Service,
    },
    RoleSpec {
        role: Role::Check,
        name: "check",
        about: "Exit 0 once Temporal answers and the namespace exists (for init containers)",
        binary: Binary::App,
        lifetime: Lifetime::OneShot,
    },
    RoleSpec {
        role: Role::Probe,
        name: "probe",
        about: "Exit 0 if this host's own admin endpoint answers 200 (a container HEALTHCHECK without curl)",
        binary: Binary::App,
        lifetime: Lifetime::OneShot,
    },
    RoleSpec {
        role: Role::Replay,
        name: "replay",
        about: "Replay workflow histories (open and recent ones from the namespace, and/or saved files) against this build's workflow code; exit 1 if any would not replay",
        binary: Binary::App,
        lifetime: Lifetime::OneShot,
    },
    RoleSpec {
        role: Role::CodecServer,
        name: "codec-server",
        about: "Serve /encode and /decode for the Temporal Web UI and CLI",
        binary: Binary::Tk8s,
        lifetime: Lifetime::Service,
    },
    RoleSpec {
        role: Role::Companion,
        name: "companion",
        about: "Serve probes and metrics for a worker written with any Temporal SDK (Python, TypeScript, Go, Java, .NET), from the pollers Temporal sees for this pod",
        binary: Binary::Tk8s,
        lifetime: Lifetime::Service,
    },
];

impl Role {
    /// This role's row of [`ROLES`].
    pub const fn spec(self) -> &'static RoleSpec {
        // Every variant has a row: a unit test holds the table to that.
        let mut i = 0;
        while i < ROLES.len() {
            if ROLES[i].role as u16 == self as u16 {
                return &ROLES[i];
            }
            i += 1;
        }
        &ROLES[0]
    }

    /// Command name, container argument and component label (`worker`).
    pub const fn name(self) -> &'static str {
        self.spec().name
    }

    /// The role a command name or container argument names.
    pub fn from_name(name: &str) -> Option<Role> {
        ROLES.iter().find(|r| r.name == name).map(|r| r.role)
    }

    /// The roles `binary` offers, in table order.
    pub fn of(binary: Binary) -> impl Iterator<Item = &'static RoleSpec> {
        ROLES.iter().filter(move |r| r.binary == binary)
    }

    /// Whether this role dials Temporal (and so reads the connection settings).
    pub fn connects(self) -> bool {
        Roles::CONNECTS.contains(self)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of roles: the ones a setting applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Roles(u16);

impl Roles {
    pub const NONE: Roles = Roles(0);
    /// Roles that dial Temporal.
    pub const CONNECTS: Roles = Roles::of(&[Role::Worker, Role::Orchestrator, Role::Scaler, Role::Check, Role::Companion, Role::Replay]);
    /// Roles that encode or decode payloads (and so read the codec keys).
    pub const ENCRYPTS: Roles = Roles::of(&[Role::Worker, Role::Orchestrator, Role::Scaler, Role::Check, Role::CodecServer, Role::Replay]);
    /// The hosted app's long-running roles: an admin server, a drain, metrics, traces.
    pub const HOSTED: Roles = Roles::of(&[Role::Worker, Role::Orchestrator, Role::Scaler]);
    /// Every role that logs.
    pub const LOGGING: Roles =
        Roles::of(&[Role::Worker, Role::Orchestrator, Role::Scaler, Role::Check, Role::CodecServer, Role::Companion, Role::Replay]);

    pub const fn of(roles: &[Role]) -> Roles {
        let mut bits = 0;
        let mut i = 0;
        while i < roles.len() {
            bits |= 1 << roles[i] as u16;
            i += 1;
        }
        Roles(bits)
    }

    pub const fn with(self, role: Role) -> Roles {
        Roles(self.0 | 1 << role as u16)
    }

    pub const fn contains(self, role: Role) -> bool {
        self.0 & (1 << role as u16) != 0
    }

    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The roles in the set, in table order.
    pub fn iter(self) -> impl Iterator<Item = Role> {
        ROLES.iter().map(|r| r.role).filter(move |r| self.contains(*r))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_role_has_one_row_and_a_unique_name() {
        let all =
            [Role::Worker, Role::Orchestrator, Role::Scaler, Role::Check, Role::Probe, Role::CodecServer, Role::Companion, Role::Replay];
        assert_eq!(ROLES.len(), all.len());
        for role in all {
            assert_eq!(ROLES.iter().filter(|r| r.role == role).count(), 1, "{role:?}");
            assert_eq!(Role::from_name(role.name()), Some(role));
        }
    }

    #[test]
    fn role_sets() {
        assert!(Roles::CONNECTS.contains(Role::Check) && !Roles::CONNECTS.contains(Role::CodecServer));
        assert_eq!(Roles::HOSTED.iter().collect::<Vec<_>>(), [Role::Worker, Role::Orchestrator, Role::Scaler]);
        assert!(Roles::NONE.is_empty() && !Roles::NONE.with(Role::Probe).is_empty());
    }
}
