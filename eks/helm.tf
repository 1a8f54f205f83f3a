# Everything inside the cluster, in dependency order:
#   storage class + namespaces -> AWS Load Balancer Controller (+ external-dns) -> Strimzi -> Kafka
#   -> Loki, Prometheus, Grafana, Alloy -> QuakeStream operator -> the QuakeStream (last).
# Custom resources (Kafka, QuakeStream) are applied through two small local charts in eks/charts/
# rather than kubernetes_manifest, which needs the CRDs to exist already at plan time.

locals {
  monitoring_namespace = "monitoring"
  operator_chart_path  = "${path.module}/../charts/quakestream-operator"

  # Grafana dashboards shipped with the repository (JSON files), provisioned through the Grafana
  # sidecar from ConfigMaps labelled grafana_dashboard=1. An absent directory yields no dashboards.
  dashboards_dir   = "${path.module}/../charts/dashboards"
  dashboard_files  = fileset(local.dashboards_dir, "*.json")
  grafana_host     = "grafana.${var.domain_name}"
  grafana_hostname = var.grafana_public ? local.grafana_host : ""
}

# --- storage and namespaces --------------------------------------------------------------------

# gp3, bound where the pod lands (EBS volumes are zonal), expandable, encrypted, retained on PVC
# deletion is left to Strimzi's deleteClaim=false.
resource "kubernetes_storage_class_v1" "gp3" {
  metadata {
    name = "gp3"
  }

  storage_provisioner    = "ebs.csi.aws.com"
  volume_binding_mode    = "WaitForFirstConsumer"
  allow_volume_expansion = true
  reclaim_policy         = "Delete"

  parameters = {
    type      = "gp3"
    encrypted = "true"
    fsType    = "ext4"
  }

  depends_on = [module.eks]
}

resource "kubernetes_namespace_v1" "quakestream" {
  metadata {
    name = var.namespace
    labels = {
      "app.kubernetes.io/part-of" = "quakestream"
    }
  }

  depends_on = [module.eks]
}

resource "kubernetes_namespace_v1" "monitoring" {
  metadata {
    name = local.monitoring_namespace
  }

  depends_on = [module.eks]
}

# --- AWS Load Balancer Controller ---------------------------------------------------------------

resource "helm_release" "aws_load_balancer_controller" {
  name       = "aws-load-balancer-controller"
  namespace  = "kube-system"
  repository = "https://aws.github.io/eks-charts"
  chart      = "aws-load-balancer-controller"
  version    = var.chart_versions.aws_load_balancer_controller

  values = [yamlencode({
    clusterName = module.eks.cluster_name
    # Given explicitly: pods cannot reach IMDS (hop limit 1 on the nodes).
    region       = var.region
    vpcId        = module.vpc.vpc_id
    replicaCount = 2
    serviceAccount = {
      create = true
      name   = "aws-load-balancer-controller"
      annotations = {
        "eks.amazonaws.com/role-arn" = module.lb_controller_irsa.iam_role_arn
      }
    }
    # Only Ingresses (and Services that ask for it) get load balancers.
    enableServiceMutatorWebhook = false
  })]

  depends_on = [module.eks]
}

resource "helm_release" "external_dns" {
  count = var.route53_zone_id == "" ? 0 : 1

  name             = "external-dns"
  namespace        = "external-dns"
  create_namespace = true
  repository       = "https://kubernetes-sigs.github.io/external-dns/"
  chart            = "external-dns"
  version          = var.chart_versions.external_dns

  values = [yamlencode({
    provider      = { name = "aws" }
    sources       = ["ingress"]
    domainFilters = [var.domain_name]
    txtOwnerId    = module.eks.cluster_name
    policy        = "sync"
    env = [
      { name = "AWS_DEFAULT_REGION", value = var.region },
    ]
    serviceAccount = {
      create = true
      name   = "external-dns"
      annotations = {
        "eks.amazonaws.com/role-arn" = module.external_dns_irsa[0].iam_role_arn
      }
    }
  })]

  depends_on = [module.eks]
}

# --- Kafka (Strimzi) -----------------------------------------------------------------------------

resource "helm_release" "strimzi" {
  name             = "strimzi"
  namespace        = "strimzi"
  create_namespace = true
  repository       = "https://strimzi.io/charts/"
  chart            = "strimzi-kafka-operator"
  version          = var.chart_versions.strimzi

  values = [yamlencode({
    # The Kafka cluster, its KafkaTopics and the QuakeStream all live in var.namespace.
    watchNamespaces = [var.namespace]
  })]

  depends_on = [kubernetes_namespace_v1.quakestream]
}

resource "helm_release" "kafka" {
  name      = "kafka"
  namespace = var.namespace
  chart     = "${path.module}/charts/kafka-cluster"

  values = [yamlencode({
    clusterName       = var.kafka_cluster_name
    replicas          = 3
    replicationFactor = 3
    minInsyncReplicas = 2
    storage = {
      size  = "${var.kafka_broker_volume_gb}Gi"
      class = kubernetes_storage_class_v1.gp3.metadata[0].name
    }
  })]

  # Strimzi reports Ready on the Kafka CR; Helm does not wait for custom resources, so the
  # QuakeStream may start before the brokers are up: its workloads retry until they are.
  depends_on = [helm_release.strimzi]
}

# --- logs and metrics ----------------------------------------------------------------------------

resource "helm_release" "loki" {
  name       = "loki"
  namespace  = local.monitoring_namespace
  repository = "https://grafana.github.io/helm-charts"
  chart      = "loki"
  version    = var.chart_versions.loki

  # Monolithic mode, filesystem storage on a gp3 volume: plenty for a few pods' logs. Use the
  # chart's S3 storage (with an IRSA role) before scaling Loki out.
  values = [yamlencode({
    deploymentMode = "SingleBinary"
    loki = {
      auth_enabled = false
      commonConfig = { replication_factor = 1 }
      storage      = { type = "filesystem" }
      schemaConfig = {
        configs = [{
          from         = "2024-01-01"
          store        = "tsdb"
          object_store = "filesystem"
          schema       = "v13"
          index        = { prefix = "loki_index_", period = "24h" }
        }]
      }
      limits_config = {
        retention_period            = var.loki_retention
        allow_structured_metadata   = true
        volume_enabled              = true
        max_query_lookback          = var.loki_retention
        reject_old_samples          = true
        reject_old_samples_max_age  = "168h"
        ingestion_rate_mb           = 8
        ingestion_burst_size_mb     = 16
        per_stream_rate_limit       = "5MB"
        per_stream_rate_limit_burst = "15MB"
      }
      compactor = {
        retention_enabled    = true
        delete_request_store = "filesystem"
      }
    }
    singleBinary = {
      replicas = 1
      persistence = {
        enabled      = true
        size         = "20Gi"
        storageClass = kubernetes_storage_class_v1.gp3.metadata[0].name
      }
    }
    read           = { replicas = 0 }
    write          = { replicas = 0 }
    backend        = { replicas = 0 }
    gateway        = { enabled = false }
    chunksCache    = { enabled = false }
    resultsCache   = { enabled = false }
    lokiCanary     = { enabled = false }
    test           = { enabled = false }
    minio          = { enabled = false }
    monitoring     = { selfMonitoring = { enabled = false }, lokiCanary = { enabled = false } }
    sidecar        = { rules = { enabled = false } }
    memberlist     = { service = { publishNotReadyAddresses = true } }
    rbac           = { namespaced = true }
    serviceMonitor = { enabled = false }
  })]

  depends_on = [kubernetes_namespace_v1.monitoring, module.eks]
}

# Prometheus server (no Alertmanager, no Pushgateway): scrapes every pod annotated
# prometheus.io/scrape=true, which the operator sets on the QuakeStream workloads; kube-state-metrics
# gives the frontend replica count for the dashboards.
resource "helm_release" "prometheus" {
  name       = "prometheus"
  namespace  = local.monitoring_namespace
  repository = "https://prometheus-community.github.io/helm-charts"
  chart      = "prometheus"
  version    = var.chart_versions.prometheus

  values = [yamlencode({
    alertmanager               = { enabled = false }
    "prometheus-pushgateway"   = { enabled = false }
    "prometheus-node-exporter" = { enabled = false }
    "kube-state-metrics"       = { enabled = true }
    server = {
      retention = "15d"
      persistentVolume = {
        enabled      = true
        size         = "20Gi"
        storageClass = kubernetes_storage_class_v1.gp3.metadata[0].name
      }
    }
  })]

  depends_on = [kubernetes_namespace_v1.monitoring, module.eks]
}

resource "kubernetes_config_map_v1" "dashboards" {
  for_each = local.dashboard_files

  metadata {
    name      = "dashboard-${trimsuffix(lower(replace(each.value, "_", "-")), ".json")}"
    namespace = local.monitoring_namespace
    labels = {
      grafana_dashboard = "1"
    }
  }

  data = {
    (each.value) = file("${local.dashboards_dir}/${each.value}")
  }

  depends_on = [kubernetes_namespace_v1.monitoring]
}

resource "helm_release" "grafana" {
  name       = "grafana"
  namespace  = local.monitoring_namespace
  repository = "https://grafana.github.io/helm-charts"
  chart      = "grafana"
  version    = var.chart_versions.grafana

  values = [yamlencode(merge(
    {
      # Empty: the chart generates a password into Secret grafana (key admin-password).
      adminPassword = var.grafana_admin_password == "" ? null : var.grafana_admin_password
      datasources = {
        "datasources.yaml" = {
          apiVersion = 1
          datasources = [
            {
              name      = "Loki"
              uid       = "loki"
              type      = "loki"
              access    = "proxy"
              url       = "http://loki.${local.monitoring_namespace}.svc.cluster.local:3100"
              isDefault = false
            },
            {
              name      = "Prometheus"
              uid       = "prometheus"
              type      = "prometheus"
              access    = "proxy"
              url       = "http://prometheus-server.${local.monitoring_namespace}.svc.cluster.local"
              isDefault = true
            },
          ]
        }
      }
      sidecar = {
        dashboards = {
          enabled         = true
          label           = "grafana_dashboard"
          labelValue      = "1"
          searchNamespace = "ALL"
        }
      }
      persistence = { enabled = false }
      "grafana.ini" = {
        server    = { root_url = var.grafana_public ? "https://${local.grafana_host}/" : "http://localhost:3000/" }
        analytics = { reporting_enabled = false, check_for_updates = false }
        users     = { allow_sign_up = false }
      }
    },
    var.grafana_public ? {
      ingress = {
        enabled          = true
        ingressClassName = "alb"
        hosts            = [local.grafana_host]
        path             = "/"
        pathType         = "Prefix"
        annotations = merge(local.frontend_ingress_annotations, {
          "alb.ingress.kubernetes.io/healthcheck-path" = "/api/health"
        })
      }
    } : {}
  ))]

  depends_on = [helm_release.loki, helm_release.prometheus, helm_release.aws_load_balancer_controller]
}

# Alloy ships every pod's logs to Loki (Promtail is end of life). One replica tailing through the
# Kubernetes API is enough at this size; switch to a DaemonSet reading /var/log/pods beyond that.
resource "helm_release" "alloy" {
  name       = "alloy"
  namespace  = local.monitoring_namespace
  repository = "https://grafana.github.io/helm-charts"
  chart      = "alloy"
  version    = var.chart_versions.alloy

  values = [yamlencode({
    controller = { type = "deployment", replicas = 1 }
    alloy = {
      configMap = {
        create  = true
        content = <<-ALLOY
          discovery.kubernetes "pods" {
            role = "pod"
          }

          discovery.relabel "pods" {
            targets = discovery.kubernetes.pods.targets

            rule {
              source_labels = ["__meta_kubernetes_namespace"]
              target_label  = "namespace"
            }
            rule {
              source_labels = ["__meta_kubernetes_pod_name"]
              target_label  = "pod"
            }
            rule {
              source_labels = ["__meta_kubernetes_pod_container_name"]
              target_label  = "container"
            }
            rule {
              source_labels = ["__meta_kubernetes_pod_label_app_kubernetes_io_name"]
              target_label  = "app"
            }
            rule {
              source_labels = ["__meta_kubernetes_pod_label_app_kubernetes_io_component"]
              target_label  = "component"
            }
          }

          loki.source.kubernetes "pods" {
            targets    = discovery.relabel.pods.output
            forward_to = [loki.process.json.receiver]
          }

          // QuakeStream logs are JSON (tracing): lift the level to a label and the event id to
          // structured metadata, so one quake can be followed with {app="quakestream"} | unid="...".
          loki.process "json" {
            stage.json {
              expressions = { level = "level", unid = "unid", fields_unid = "fields.unid" }
            }
            stage.template {
              source   = "unid"
              template = "{{ if .unid }}{{ .unid }}{{ else }}{{ .fields_unid }}{{ end }}"
            }
            stage.labels {
              values = { level = "" }
            }
            stage.structured_metadata {
              values = { unid = "" }
            }
            forward_to = [loki.write.default.receiver]
          }

          loki.write "default" {
            endpoint {
              url = "http://loki.${local.monitoring_namespace}.svc.cluster.local:3100/loki/api/v1/push"
            }
          }
        ALLOY
      }
    }
  })]

  depends_on = [helm_release.loki]
}

# --- QuakeStream ---------------------------------------------------------------------------------

resource "helm_release" "quakestream_operator" {
  name             = "quakestream-operator"
  namespace        = "quakestream-system"
  create_namespace = true
  chart            = local.operator_chart_path

  values = [yamlencode(merge(
    {
      image = merge(
        { repository = var.operator_image_repository },
        var.operator_image_tag == "" ? {} : { tag = var.operator_image_tag },
      )
    },
  ))]

  depends_on = [module.eks]
}

locals {
  # The QuakeStream spec (quakestream.io/v1alpha1, see crds/quakestream.yaml). The producer and the
  # operator have no role: they never call AWS.
  quakestream_spec = {
    image = merge(
      { repository = var.image_repository },
      var.image_tag == "" ? {} : { tag = var.image_tag },
    )
    kafka = {
      clusterName = var.kafka_cluster_name
      topic = {
        partitions = 6
        replicas   = 3
        config     = { "min.insync.replicas" = "2" }
      }
      dlqTopic = {
        partitions = 1
        replicas   = 3
        config     = { "min.insync.replicas" = "2" }
      }
    }
    storage = {
      table  = aws_dynamodb_table.quakes.name
      region = var.region
    }
    consumer = {
      serviceAccount = { roleArn = aws_iam_role.consumer.arn }
    }
    frontend = {
      serviceAccount = { roleArn = aws_iam_role.frontend.arn }
      autoscaling = {
        minReplicas = var.frontend_min_replicas
        maxReplicas = var.frontend_max_replicas
      }
      ingress = {
        className   = "alb"
        host        = var.domain_name
        annotations = local.frontend_ingress_annotations
        # TLS terminates at the ALB with the ACM certificate (certificate-arn annotation); an empty
        # tls block makes the operator report an https:// URL.
        tls = {}
      }
    }
  }
}

resource "helm_release" "quakestream" {
  name      = "quakestream"
  namespace = var.namespace
  chart     = "${path.module}/charts/quakestream-instance"

  values = [yamlencode({
    name = var.quakestream_name
    spec = local.quakestream_spec
  })]

  # Applied last: the CRD (operator chart), Kafka, the ALB controller and the IAM policies exist.
  depends_on = [
    helm_release.quakestream_operator,
    helm_release.kafka,
    helm_release.aws_load_balancer_controller,
    helm_release.external_dns,
    aws_iam_role_policy.consumer,
    aws_iam_role_policy.frontend,
    aws_vpc_endpoint.dynamodb,
  ]
}
