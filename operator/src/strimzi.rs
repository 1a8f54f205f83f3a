//! The few fields of Strimzi's `KafkaTopic` (`kafka.strimzi.io/v1`) the operator writes and reads.
//!
//! Only a client-side type: the CRD itself is installed by Strimzi.

use std::collections::BTreeMap;

use kube::CustomResource;
use serde::{Deserialize, Serialize};

/// Label that binds a KafkaTopic to its Strimzi `Kafka` cluster.
pub const CLUSTER_LABEL: &str = "strimzi.io/cluster";

/// Spec of a Strimzi KafkaTopic.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[kube(
    group = "kafka.strimzi.io",
    version = "v1",
    kind = "KafkaTopic",
    plural = "kafkatopics",
    namespaced,
    status = "KafkaTopicStatus",
    schema = "disabled",
    derive = "PartialEq"
)]
#[serde(rename_all = "camelCase")]
pub struct KafkaTopicSpec {
    /// Kafka topic name (when it differs from `metadata.name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic_name: Option<String>,
    /// Number of partitions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partitions: Option<i32>,
    /// Replication factor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// Topic configuration (string, number or boolean values).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub config: BTreeMap<String, serde_json::Value>,
}

/// Status of a Strimzi KafkaTopic.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct KafkaTopicStatus {
    /// Strimzi conditions (`Ready` among them).
    #[serde(default)]
    pub conditions: Vec<StrimziCondition>,
    /// Generation the Topic Operator last reconciled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Topic name in Kafka.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic_name: Option<String>,
}

/// One Strimzi condition.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct StrimziCondition {
    /// Condition type, e.g. `Ready`.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// CamelCase reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Human-readable message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// When the status last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<String>,
}

impl KafkaTopic {
    /// The `Ready` condition, if the Topic Operator has reported one for the current generation.
    pub fn ready_condition(&self) -> Option<&StrimziCondition> {
        let status = self.status.as_ref()?;
        if let (Some(seen), Some(generation)) = (status.observed_generation, self.metadata.generation)
            && seen < generation
        {
            return None;
        }
        status.conditions.iter().find(|c| c.type_ == "Ready")
    }
}

/// Spec of a Strimzi KafkaUser (`kafka.strimzi.io/v1`): the fields the operator writes. The User
/// Operator creates the user (a certificate from the clients CA, or a SCRAM password) and its
/// ACLs, and writes the credentials to a Secret of the same name.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[kube(
    group = "kafka.strimzi.io",
    version = "v1",
    kind = "KafkaUser",
    plural = "kafkausers",
    namespaced,
    schema = "disabled",
    derive = "PartialEq"
)]
#[serde(rename_all = "camelCase")]
pub struct KafkaUserSpec {
    /// `tls` or `scram-sha-512`.
    pub authentication: KafkaUserAuthentication,
    /// `simple` authorisation with its ACL rules.
    pub authorization: KafkaUserAuthorization,
}

/// `spec.authentication` of a KafkaUser.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct KafkaUserAuthentication {
    /// `tls` or `scram-sha-512`.
    #[serde(rename = "type")]
    pub type_: String,
}

/// `spec.authorization` of a KafkaUser.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct KafkaUserAuthorization {
    /// Always `simple`.
    #[serde(rename = "type")]
    pub type_: String,
    /// The rules; anything not allowed is denied.
    pub acls: Vec<AclRule>,
}

/// One ACL rule (`operations` is a list in v1; v1beta2's single `operation` is gone).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct AclRule {
    /// What the rule applies to.
    pub resource: AclResource,
    /// Kafka operations (`Read`, `Write`, `Describe`, ...).
    pub operations: Vec<String>,
    /// Always `allow` (anything else is denied by default).
    #[serde(rename = "type")]
    pub type_: String,
}

/// `resource` of an ACL rule.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub struct AclResource {
    /// `topic`, `group`, `transactionalId` or `cluster`.
    #[serde(rename = "type")]
    pub type_: String,
    /// The name (or prefix); none for `cluster`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `literal` or `prefix`; none for `cluster`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern_type: Option<String>,
}
