//! A workload's Strimzi KafkaUser (`kafka.strimzi.io/v1`) and its ACLs: exactly the topics and
//! groups the workload uses, with exactly the operations it performs on them. Kafka denies the
//! rest (`authorization: simple` on the cluster). `Read` and `Write` imply `Describe` in Kafka;
//! it is listed anyway, so the rule says what the client does (metadata, offsets, writes).
//!
//! | workload | topic of wire records | dead-letter topic | consumer group |
//! |---|---|---|---|
//! | producer | Write | Write | — |
//! | consumer | Read | Write | its group: Read |
//! | frontend | Read | — | the tail's group id: Describe only (never joins, never commits) |
//! | analytics | Read | Write | its app id: Read |
//!
//! Besides: the frontend reads the analytics' outputs (`quake-stats`, `quake-sequences`); the
//! analytics writes those outputs, reads and writes its internal topics (changelogs and
//! repartition topics, all named `<app id>-…`) and writes under its transactional ids
//! (`<app id>-<pod name>`, a prefix rule).
//!
//! No cluster ACL: since Kafka 3.0 an idempotent producer needs only `Write` on its topics
//! (KIP-679), not `IdempotentWrite` on the cluster.

use k8s_openapi::api::core::v1::{KeyToPath, SecretVolumeSource, Volume, VolumeMount};
use quakestream_contract as contract;

use super::meta;
use crate::component::{Component, TopicRole};
use crate::resolve::{Resolved, ResolvedWorkload};
use crate::strimzi::{
    AclResource, AclRule, CLUSTER_LABEL, KafkaUser, KafkaUserAuthentication, KafkaUserAuthorization, KafkaUserSpec,
};
use contract::analytics::TopicRole as AnalyticsRole;

/// Operations on a topic the workload reads.
pub const READ: &[&str] = &["Read", "Describe"];
/// Operations on a topic the workload writes.
pub const WRITE: &[&str] = &["Write", "Describe"];
/// Operations on a group whose offsets the workload commits.
pub const JOIN: &[&str] = &["Read", "Describe"];
/// Operations on a group id the client names but never joins.
pub const DESCRIBE: &[&str] = &["Describe"];
/// Operations on a topic the workload both reads and writes (its own changelogs).
pub const READ_WRITE: &[&str] = &["Read", "Write", "Describe"];
/// Operations on the transactional ids of a transactional producer.
pub const TRANSACT: &[&str] = &["Write", "Describe"];

/// The ACL rules of a component: one row per workload (the table above).
pub fn acls(r: &Resolved, c: Component) -> Vec<AclRule> {
    use TopicRole::{DeadLetters, Events};
    match c {
        Component::Producer => vec![topic(r, Events, WRITE), topic(r, DeadLetters, WRITE)],
        Component::Consumer => vec![
            topic(r, Events, READ),
            group(&r.names.group_id, JOIN),
            topic(r, DeadLetters, WRITE),
        ],
        Component::Frontend => {
            let mut v = vec![topic(r, Events, READ)];
            // The analytics' outputs, when this pipeline runs it.
            v.extend(
                [AnalyticsRole::Stats, AnalyticsRole::Sequences]
                    .into_iter()
                    .filter_map(|a| topic_if(r, TopicRole::Analytics(a), READ)),
            );
            v.push(group(contract::frontend::TAIL_GROUP_ID, DESCRIBE));
            v
        }
        Component::Analytics => analytics_acls(r),
    }
}

/// The analytics' row: its input and dead letters, its outputs, its internal topics, its group
/// and its transactional ids.
fn analytics_acls(r: &Resolved) -> Vec<AclRule> {
    use TopicRole::{DeadLetters, Events};
    let app = &r.analytics.names.app_id;
    let mut v = vec![topic(r, Events, READ), topic(r, DeadLetters, WRITE)];
    for role in AnalyticsRole::ALL {
        let ops = match role {
            AnalyticsRole::Stats | AnalyticsRole::Sequences => WRITE,
            _ => READ_WRITE,
        };
        v.extend(topic_if(r, TopicRole::Analytics(role), ops));
    }
    v.push(group(app, JOIN));
    // Restoring reads the changelogs as the group `<app id>-restore` (assigned, never joined).
    v.push(group(&format!("{app}-restore"), DESCRIBE));
    v.push(prefixed("transactionalId", &format!("{app}-"), TRANSACT));
    v
}

/// The KafkaUser of `w`, when the pipeline authenticates to Kafka. Owned by the QuakeStream:
/// deleting it deletes the user, its ACLs and its secret.
pub fn build(r: &Resolved, w: &ResolvedWorkload) -> Option<KafkaUser> {
    let creds = w.kafka_credentials.as_ref()?;
    let mut labels = w.labels.clone();
    labels.insert(CLUSTER_LABEL.to_owned(), r.kafka_cluster.clone());
    Some(KafkaUser {
        metadata: meta::object(r, &creds.user_secret, &labels, true),
        spec: KafkaUserSpec {
            authentication: KafkaUserAuthentication {
                type_: creds.authentication.as_str().to_owned(),
            },
            authorization: KafkaUserAuthorization {
                type_: "simple".to_owned(),
                acls: acls(r, w.component),
            },
        },
    })
}

/// Name of the pod volume of the workload's user secret.
pub const USER_VOLUME: &str = "kafka-user";
/// Name of the pod volume of the cluster CA certificate.
pub const CA_VOLUME: &str = "kafka-ca";
/// Mode of the mounted credentials: the owner and the pod's `fsGroup` may read them.
pub const SECRET_MODE: i32 = 0o440;

/// The pod volumes of `w`'s credentials: only the keys it reads, each required (a pod whose
/// secret lacks one does not start, instead of failing at its first connection).
pub fn volumes(w: &ResolvedWorkload) -> Vec<Volume> {
    let Some(c) = &w.kafka_credentials else {
        return Vec::new();
    };
    let secret = |volume: &str, name: &str, keys: &[&str]| Volume {
        name: volume.to_owned(),
        secret: Some(SecretVolumeSource {
            secret_name: Some(name.to_owned()),
            default_mode: Some(SECRET_MODE),
            items: Some(
                keys.iter()
                    .map(|k| KeyToPath {
                        key: (*k).to_owned(),
                        path: (*k).to_owned(),
                        mode: None,
                    })
                    .collect(),
            ),
            optional: Some(false),
        }),
        ..Volume::default()
    };
    vec![
        secret(USER_VOLUME, &c.user_secret, &c.user_keys),
        secret(CA_VOLUME, &c.ca_secret, &[contract::kafka_security::CA_CERT_KEY]),
    ]
}

/// Where the container sees them (the paths its environment names).
pub fn volume_mounts(w: &ResolvedWorkload) -> Vec<VolumeMount> {
    if w.kafka_credentials.is_none() {
        return Vec::new();
    }
    [
        (USER_VOLUME, contract::kafka_security::USER_DIR),
        (CA_VOLUME, contract::kafka_security::CA_DIR),
    ]
    .iter()
    .map(|(name, path)| VolumeMount {
        name: (*name).to_owned(),
        mount_path: (*path).to_owned(),
        read_only: Some(true),
        ..VolumeMount::default()
    })
    .collect()
}

fn rule(type_: &str, name: &str, operations: &[&str]) -> AclRule {
    AclRule {
        resource: AclResource {
            type_: type_.to_owned(),
            name: Some(name.to_owned()),
            pattern_type: Some("literal".to_owned()),
        },
        operations: operations.iter().map(|o| (*o).to_owned()).collect(),
        type_: "allow".to_owned(),
    }
}

fn topic(r: &Resolved, role: TopicRole, operations: &[&str]) -> AclRule {
    let t = r
        .topics
        .iter()
        .find(|t| t.role == role)
        .expect("every topic role is resolved");
    rule("topic", &t.topic_name, operations)
}

/// The rule for the topic of `role`, if the pipeline has that topic (the analytics' only while
/// it runs).
fn topic_if(r: &Resolved, role: TopicRole, operations: &[&str]) -> Option<AclRule> {
    let t = r.topics.iter().find(|t| t.role == role)?;
    Some(rule("topic", &t.topic_name, operations))
}

fn group(name: &str, operations: &[&str]) -> AclRule {
    rule("group", name, operations)
}

fn prefixed(type_: &str, prefix: &str, operations: &[&str]) -> AclRule {
    let mut r = rule(type_, prefix, operations);
    r.resource.pattern_type = Some("prefix".to_owned());
    r
}

#[cfg(test)]
#[path = "kafka_user_tests.rs"]
mod tests;
