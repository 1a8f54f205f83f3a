//! Reads the EKS Terraform (eks/*.tf and terraform.tfvars) with an HCL parser and resolves what
//! the cost depends on into a [`Deployment`]. Only variables are evaluated (`var.*`, literals,
//! conditionals, templates); everything the estimate needs is either a variable or a literal in
//! the configuration, and anything else is an error naming what could not be read.

use crate::error::{CostError, Result};
use hcl::eval::{Context, Evaluate};
use hcl::{Block, Body, Expression, ObjectKey, Value};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// The `*.tf` files of a directory, parsed.
pub struct TerraformDir {
    pub dir: PathBuf,
    files: Vec<(PathBuf, Body)>,
}

/// A `resource` or `module` block: its address (`type.name`, `module.name`) and resource type
/// (`module` for modules).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Declared {
    pub address: String,
    pub kind: String,
    pub file: String,
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| CostError::Read {
        path: path.to_owned(),
        message: e.to_string(),
    })
}

fn parse(path: &Path, text: &str) -> Result<Body> {
    hcl::parse(text).map_err(|e| CostError::Hcl {
        path: path.to_owned(),
        message: e.to_string(),
    })
}

impl TerraformDir {
    pub fn load(dir: &Path) -> Result<TerraformDir> {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| CostError::Read {
                path: dir.to_owned(),
                message: e.to_string(),
            })?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "tf"))
            .collect();
        paths.sort();
        if paths.is_empty() {
            return Err(CostError::Read {
                path: dir.to_owned(),
                message: "no .tf files".into(),
            });
        }
        let mut files = Vec::new();
        for p in paths {
            let text = read(&p)?;
            files.push((p.clone(), parse(&p, &text)?));
        }
        Ok(TerraformDir {
            dir: dir.to_owned(),
            files,
        })
    }

    fn top_blocks(&self) -> impl Iterator<Item = (&Path, &Block)> {
        self.files
            .iter()
            .flat_map(|(p, b)| b.blocks().map(move |blk| (p.as_path(), blk)))
    }

    /// Every `resource` and `module` block, sorted by address.
    pub fn declared(&self) -> Vec<Declared> {
        let mut out: Vec<Declared> = self
            .top_blocks()
            .filter_map(|(path, b)| {
                let labels: Vec<&str> = b.labels().iter().map(|l| l.as_str()).collect();
                let file = path.file_name()?.to_string_lossy().into_owned();
                match (b.identifier(), labels.as_slice()) {
                    ("resource", [t, n]) => Some(Declared {
                        address: format!("{t}.{n}"),
                        kind: (*t).to_owned(),
                        file,
                    }),
                    ("module", [n]) => Some(Declared {
                        address: format!("module.{n}"),
                        kind: "module".to_owned(),
                        file,
                    }),
                    _ => None,
                }
            })
            .collect();
        out.sort();
        out
    }

    fn labelled(&self, ident: &str, labels: &[&str]) -> Option<&Block> {
        self.top_blocks()
            .map(|(_, b)| b)
            .find(|b| b.identifier() == ident && b.labels().iter().map(|l| l.as_str()).eq(labels.iter().copied()))
    }

    pub fn resource(&self, kind: &str, name: &str) -> Option<&Block> {
        self.labelled("resource", &[kind, name])
    }

    pub fn module(&self, name: &str) -> Option<&Block> {
        self.labelled("module", &[name])
    }

    /// The expression of `local.<name>`.
    pub fn local(&self, name: &str) -> Option<&Expression> {
        self.top_blocks()
            .filter(|(_, b)| b.identifier() == "locals")
            .find_map(|(_, b)| attr(b.body(), name))
    }

    /// Every variable's default (`null` for variables without one).
    pub fn defaults(&self) -> hcl::Map<String, Value> {
        let mut out = hcl::Map::new();
        for (_, b) in self.top_blocks().filter(|(_, b)| b.identifier() == "variable") {
            if let Some(name) = b.labels().first() {
                let v = attr(b.body(), "default")
                    .and_then(|e| e.evaluate(&Context::new()).ok())
                    .unwrap_or(Value::Null);
                out.insert(name.as_str().to_owned(), v);
            }
        }
        out
    }
}

/// An attribute of a body.
pub fn attr<'a>(body: &'a Body, key: &str) -> Option<&'a Expression> {
    body.attributes().find(|a| a.key() == key).map(|a| a.expr())
}

/// Nested blocks of a body with this identifier.
pub fn blocks<'a>(body: &'a Body, ident: &'a str) -> impl Iterator<Item = &'a Block> + 'a {
    body.blocks().filter(move |b| b.identifier() == ident)
}

fn key_name(k: &ObjectKey) -> Option<&str> {
    match k {
        ObjectKey::Identifier(i) => Some(i.as_str()),
        ObjectKey::Expression(Expression::String(s)) => Some(s.as_str()),
        _ => None,
    }
}

/// The first value of object key `key` anywhere inside `expr` (through function calls such as
/// `yamlencode`, arrays, objects and conditionals), depth first.
pub fn find_key<'a>(expr: &'a Expression, key: &str) -> Option<&'a Expression> {
    match expr {
        Expression::Object(o) => o
            .iter()
            .find_map(|(k, v)| (key_name(k) == Some(key)).then_some(v))
            .or_else(|| o.iter().find_map(|(_, v)| find_key(v, key))),
        Expression::Array(a) => a.iter().find_map(|e| find_key(e, key)),
        Expression::FuncCall(f) => f.args.iter().find_map(|e| find_key(e, key)),
        Expression::Parenthesis(e) => find_key(e, key),
        Expression::Conditional(c) => find_key(&c.true_expr, key).or_else(|| find_key(&c.false_expr, key)),
        _ => None,
    }
}

/// Variables resolved from the defaults and a tfvars file, as an evaluation context.
pub struct Variables {
    pub values: hcl::Map<String, Value>,
    ctx: Context<'static>,
}

impl Variables {
    pub fn new(defaults: hcl::Map<String, Value>, tfvars: Option<&Path>) -> Result<Variables> {
        let mut values = defaults;
        if let Some(path) = tfvars {
            let text = read(path)?;
            let body = parse(path, &text)?;
            for a in body.attributes() {
                let v = a.expr().evaluate(&Context::new()).map_err(|e| CostError::Hcl {
                    path: path.to_owned(),
                    message: format!("{}: {e}", a.key()),
                })?;
                values.insert(a.key().to_owned(), v);
            }
        }
        let mut ctx = Context::new();
        ctx.declare_var("var", Value::Object(values.clone()));
        Ok(Variables { values, ctx })
    }

    pub fn eval(&self, what: &str, e: &Expression) -> Result<Value> {
        e.evaluate(&self.ctx).map_err(|err| CostError::Variable {
            name: what.to_owned(),
            message: err.to_string(),
        })
    }

    fn get(&self, name: &str) -> Result<&Value> {
        self.values.get(name).ok_or_else(|| CostError::Variable {
            name: name.to_owned(),
            message: "not declared in variables.tf".into(),
        })
    }

    pub fn string(&self, name: &str) -> Result<String> {
        as_str(name, self.get(name)?)
    }

    pub fn number(&self, name: &str) -> Result<f64> {
        as_f64(name, self.get(name)?)
    }

    pub fn bool(&self, name: &str) -> Result<bool> {
        self.get(name)?.as_bool().ok_or_else(|| not_a(name, "bool"))
    }

    pub fn strings(&self, name: &str) -> Result<Vec<String>> {
        let v = self.get(name)?;
        let a = v.as_array().ok_or_else(|| not_a(name, "list of strings"))?;
        a.iter().map(|x| as_str(name, x)).collect()
    }
}

fn not_a(name: &str, what: &str) -> CostError {
    CostError::Variable {
        name: name.to_owned(),
        message: format!("is not a {what}"),
    }
}

fn as_str(name: &str, v: &Value) -> Result<String> {
    v.as_str().map(str::to_owned).ok_or_else(|| not_a(name, "string"))
}

fn as_f64(name: &str, v: &Value) -> Result<f64> {
    let n = v.as_f64().ok_or_else(|| not_a(name, "number"))?;
    if n.is_finite() && n >= 0.0 {
        Ok(n)
    } else {
        Err(not_a(name, "non-negative number"))
    }
}

/// A Kubernetes quantity in GiB (`20Gi`), as GB of EBS storage (EBS bills provisioned GiB).
fn gib(what: &str, v: &Value) -> Result<f64> {
    let s = as_str(what, v)?;
    s.strip_suffix("Gi")
        .and_then(|n| n.parse::<f64>().ok())
        .filter(|n| n.is_finite() && *n >= 0.0)
        .ok_or_else(|| CostError::Variable {
            name: what.to_owned(),
            message: format!("{s:?} is not a size in Gi"),
        })
}

/// What the cost of an EKS deployment depends on, read from its Terraform.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Deployment {
    pub region: String,
    /// Regions of the DynamoDB global-table replicas.
    pub replica_regions: Vec<String>,
    pub availability_zones: u32,
    pub node_instance_type: String,
    pub node_capacity_type: String,
    pub node_count: u32,
    pub node_disk_gb: f64,
    pub nat_gateways: u32,
    pub kafka_brokers: u32,
    pub kafka_replication_factor: u32,
    pub kafka_volume_gb: f64,
    pub loki_volume_gb: f64,
    pub prometheus_volume_gb: f64,
    pub waf_rules: u32,
    pub control_plane_log_retention_days: f64,
    pub frontend_min_replicas: u32,
    pub frontend_max_replicas: u32,
    pub grafana_public: bool,
    /// The Cognito user pool of the Grafana login exists (`count` of aws_cognito_user_pool.grafana).
    pub login_pool: bool,
    pub point_in_time_recovery: bool,
}

impl Deployment {
    /// Reads `dir/*.tf` with `dir/terraform.tfvars` if present (or `tfvars` if given).
    pub fn from_dir(dir: &Path, tfvars: Option<&Path>) -> Result<Deployment> {
        let tf = TerraformDir::load(dir)?;
        let default_tfvars = dir.join("terraform.tfvars");
        let tfvars = tfvars
            .map(Path::to_path_buf)
            .or_else(|| default_tfvars.is_file().then_some(default_tfvars));
        let vars = Variables::new(tf.defaults(), tfvars.as_deref())?;
        Deployment::resolve(&tf, &vars)
    }

    pub fn resolve(tf: &TerraformDir, vars: &Variables) -> Result<Deployment> {
        let missing = |what: &str| CostError::Variable {
            name: what.to_owned(),
            message: "not found in the Terraform".into(),
        };
        let number_at = |what: &str, e: Option<&Expression>| -> Result<f64> {
            as_f64(what, &vars.eval(what, e.ok_or_else(|| missing(what))?)?)
        };
        let block_expr = |b: Option<&Block>, what: &str, key: &str| -> Result<Expression> {
            let b = b.ok_or_else(|| missing(what))?;
            Ok(Expression::Array(
                b.body()
                    .attributes()
                    .filter(|a| a.key() == key)
                    .map(|a| a.expr().clone())
                    .collect(),
            ))
        };

        let region = vars.string("region")?;
        let replica_region = vars.string("replica_region")?;
        let azs = availability_zones(tf)?;

        // The node group: module.eks.eks_managed_node_groups.default.
        let eks = tf.module("eks").ok_or_else(|| missing("module.eks"))?;
        let groups = attr(eks.body(), "eks_managed_node_groups").ok_or_else(|| missing("eks_managed_node_groups"))?;
        let node_count = number_at("module.eks desired_size", find_key(groups, "desired_size"))?;
        let node_disk_gb = number_at("module.eks volume_size", find_key(groups, "volume_size"))?;
        let types = vars.eval(
            "module.eks instance_types",
            find_key(groups, "instance_types").ok_or_else(|| missing("instance_types"))?,
        )?;
        let node_instance_type = types
            .as_array()
            .and_then(|a| a.first())
            .and_then(|v| v.as_str())
            .ok_or_else(|| not_a("node_instance_types", "non-empty list of strings"))?
            .to_owned();
        let capacity = vars.eval(
            "module.eks capacity_type",
            find_key(groups, "capacity_type").ok_or_else(|| missing("capacity_type"))?,
        )?;
        let retention = number_at(
            "module.eks cloudwatch_log_group_retention_in_days",
            attr(eks.body(), "cloudwatch_log_group_retention_in_days"),
        )?;

        let vpc = tf.module("vpc").ok_or_else(|| missing("module.vpc"))?;
        let single_nat = vars.eval(
            "module.vpc single_nat_gateway",
            attr(vpc.body(), "single_nat_gateway").ok_or_else(|| missing("single_nat_gateway"))?,
        )?;
        let nat_gateways = if single_nat
            .as_bool()
            .ok_or_else(|| not_a("single_nat_gateway", "bool"))?
        {
            1
        } else {
            azs
        };

        let kafka = block_expr(tf.resource("helm_release", "kafka"), "helm_release.kafka", "values")?;
        let kafka_brokers = number_at("helm_release.kafka replicas", find_key(&kafka, "replicas"))?;
        let kafka_rf = number_at(
            "helm_release.kafka replicationFactor",
            find_key(&kafka, "replicationFactor"),
        )?;
        let size_of = |release: &str| -> Result<f64> {
            let what = format!("helm_release.{release} size");
            let values = block_expr(tf.resource("helm_release", release), &what, "values")?;
            gib(
                &what,
                &vars.eval(&what, find_key(&values, "size").ok_or_else(|| missing(&what))?)?,
            )
        };

        let waf = tf
            .resource("aws_wafv2_web_acl", "frontend")
            .ok_or_else(|| missing("aws_wafv2_web_acl.frontend"))?;
        let table = tf
            .resource("aws_dynamodb_table", "quakes")
            .ok_or_else(|| missing("aws_dynamodb_table.quakes"))?;
        let billing = vars.eval(
            "billing_mode",
            attr(table.body(), "billing_mode").ok_or_else(|| missing("billing_mode"))?,
        )?;
        if billing.as_str() != Some("PAY_PER_REQUEST") {
            return Err(CostError::Variable {
                name: "aws_dynamodb_table.quakes billing_mode".into(),
                message: format!("{billing}: only on-demand (PAY_PER_REQUEST) tables are modelled"),
            });
        }
        let pitr = blocks(table.body(), "point_in_time_recovery")
            .filter_map(|b| attr(b.body(), "enabled"))
            .any(|e| vars.eval("point_in_time_recovery", e).ok().and_then(|v| v.as_bool()) == Some(true));

        Ok(Deployment {
            replica_regions: if replica_region.is_empty() {
                vec![]
            } else {
                vec![replica_region]
            },
            availability_zones: azs,
            node_instance_type,
            node_capacity_type: capacity.as_str().unwrap_or("ON_DEMAND").to_owned(),
            node_count: node_count as u32,
            node_disk_gb,
            nat_gateways,
            kafka_brokers: kafka_brokers as u32,
            kafka_replication_factor: kafka_rf as u32,
            kafka_volume_gb: size_of("kafka")?,
            loki_volume_gb: size_of("loki")?,
            prometheus_volume_gb: size_of("prometheus")?,
            waf_rules: blocks(waf.body(), "rule").count() as u32,
            control_plane_log_retention_days: retention,
            frontend_min_replicas: vars.number("frontend_min_replicas")? as u32,
            frontend_max_replicas: vars.number("frontend_max_replicas")? as u32,
            grafana_public: vars.bool("grafana_public")?,
            login_pool: count_of(tf, vars, "aws_cognito_user_pool", "grafana")? > 0,
            point_in_time_recovery: pitr,
            region,
        })
    }
}

/// `count` of a resource (1 without one, 0 if the resource is not declared).
pub fn count_of(tf: &TerraformDir, vars: &Variables, kind: &str, name: &str) -> Result<u32> {
    let Some(b) = tf.resource(kind, name) else { return Ok(0) };
    match attr(b.body(), "count") {
        None => Ok(1),
        Some(e) => Ok(as_f64(
            &format!("{kind}.{name} count"),
            &vars.eval(&format!("{kind}.{name} count"), e)?,
        )? as u32),
    }
}

/// `local.azs = slice(<zones>, start, end)`: the number of AZs the VPC spans.
fn availability_zones(tf: &TerraformDir) -> Result<u32> {
    let bad = || CostError::Variable {
        name: "local.azs".into(),
        message: "expected slice(<zones>, start, end) with literal bounds".into(),
    };
    match tf.local("azs").ok_or_else(bad)? {
        Expression::FuncCall(f) if f.name.name.as_str() == "slice" && f.args.len() == 3 => {
            let n = |e: &Expression| {
                e.evaluate(&Context::new())
                    .ok()
                    .and_then(|v| v.as_u64())
                    .ok_or_else(bad)
            };
            Ok((n(&f.args[2])? - n(&f.args[1])?) as u32)
        }
        _ => Err(bad()),
    }
}
