//! What every live action and observation runs in: the scenario, the clients, the emulator's
//! capability table, the identifiers learnt along the way ([`Names`]), and how an action ends
//! ([`Done`]).

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_route53::types::ResourceRecordSet;

use super::{ApiError, Capabilities, Clients};
use crate::scenario::{Resource, Scenario, Side};

/// What drillbit knows of the environment beyond the scenario: identifiers the provider
/// assigned, and what the runbook changed.
#[derive(Debug, Default, Clone)]
pub struct Names {
    /// Hosted zone id of each Route 53 record resource.
    pub zone: BTreeMap<String, String>,
    /// Health check id per (record resource, region).
    pub health_check: BTreeMap<(String, String), String>,
    /// The endpoint (an ALB's DNS name) that serves each region.
    pub endpoint: BTreeMap<String, String>,
    /// The database instance that stands for a resource in a region, when it is not the
    /// scenario's own name (a failback replica).
    pub db_member: BTreeMap<(String, String), String>,
    /// Instances drillbit promoted with a successful call (for emulators whose describe keeps
    /// the replica's source link after promotion, see [`Capabilities::promote_clears_source`]).
    pub promoted: HashSet<String>,
    /// The ElastiCache global datastore id of each `elasticache-global` resource.
    pub datastore: BTreeMap<String, String>,
    /// What the actions found worth saying in the scorecard's notes (a restore's recovery
    /// point), drained into them at teardown.
    pub notes: Vec<String>,
    /// The AWS account id (from STS, or the emulator's).
    pub account: String,
    /// What drillbit created, oldest first (for an emulator's clean-up).
    pub created: Vec<super::deprovision::Created>,
    /// The existing record set of a bound (or discovered) record per (record resource, region),
    /// as found: a flip rewrites the user's own set (its identifier, type, alias or values).
    pub record_sets: BTreeMap<(String, String), ResourceRecordSet>,
}

/// Everything an action needs; cheap to clone into a task.
#[derive(Clone)]
pub struct Env {
    pub scenario: Arc<Scenario>,
    pub clients: Clients,
    pub caps: Option<&'static Capabilities>,
    pub names: Arc<Mutex<Names>>,
    /// How often a wait describes the resource again.
    pub poll: Duration,
}

/// How an action ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Done {
    Ok,
    Failed(String),
    Unsupported(String),
}

impl From<ApiError> for Done {
    fn from(e: ApiError) -> Done {
        match e {
            ApiError::Unsupported(m) => Done::Unsupported(m),
            ApiError::Failed(m) => Done::Failed(m),
        }
    }
}

impl Env {
    pub fn names(&self) -> std::sync::MutexGuard<'_, Names> {
        self.names.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn primary(&self) -> &str {
        &self.scenario.topology.primary_region
    }

    pub fn dr(&self) -> &str {
        &self.scenario.topology.dr_region
    }

    pub fn side_region(&self, side: Option<Side>, default_dr: bool) -> String {
        self.scenario.side_region(side, default_dr).to_string()
    }

    pub fn rds_arn(&self, region: &str, instance: &str) -> String {
        format!("arn:aws:rds:{region}:{}:db:{instance}", self.names().account)
    }

    pub fn cluster_arn(&self, region: &str, cluster: &str) -> String {
        format!("arn:aws:rds:{region}:{}:cluster:{cluster}", self.names().account)
    }

    /// The database instance standing for `resource` in `region`.
    pub fn db_member(&self, resource: &str, region: &str) -> Option<String> {
        if let Some(n) = self.names().db_member.get(&(resource.to_string(), region.to_string())) {
            return Some(n.clone());
        }
        self.scenario.topology.resources.iter().find_map(|r| match r {
            Resource::RdsInstance(db) if db.id == resource && self.side_region(db.side, false) == region => {
                Some(db.instance.clone())
            }
            Resource::RdsReadReplica(rr) if rr.source == resource && self.side_region(rr.side, true) == region => {
                Some(rr.instance.clone())
            }
            _ => None,
        })
    }
}
