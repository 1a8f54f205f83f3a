# Everything inside the cluster, in dependency order:
#   storage class + namespaces -> AWS Load Balancer Controller (+ external-dns) -> Strimzi -> Kafka
#   -> Loki, Prometheus, Grafana, Alloy -> QuakeStream operator -> the QuakeStream (last).
# Custom resources (Kafka, QuakeStream) are applied through two small local charts in eks/charts/
# rather than kubernetes_manifest, which needs the CRDs to exist already at plan time.

locals {
  # Every chart version and repository comes from deploy/pins.env, the one file that names the
  # pins of the whole cluster path (scripts/kind-up.sh and the workflow read it too);
  # var.chart_versions / var.chart_repositories override single entries.
  pins = { for kv in regexall("(?m)^([A-Z0-9_]+)=(\\S+)$", file("${path.module}/../deploy/pins.env")) : kv[0] => kv[1] }
  chart_versions = merge({
    aws_load_balancer_controller = local.pins.AWS_LOAD_BALANCER_CONTROLLER_VERSION
    external_dns                 = local.pins.EXTERNAL_DNS_VERSION
    strimzi                      = local.pins.STRIMZI_VERSION
    prometheus                   = local.pins.PROMETHEUS_VERSION
    loki                         = local.pins.LOKI_VERSION
    grafana                      = local.pins.GRAFANA_VERSION
    alloy                        = local.pins.ALLOY_VERSION
  }, var.chart_versions)
  chart_repositories = merge({
    aws_load_balancer_controller = local.pins.AWS_LOAD_BALANCER_CONTROLLER_REPO
    external_dns                 = local.pins.EXTERNAL_DNS_REPO
    strimzi                      = local.pins.STRIMZI_REPO
    prometheus                   = local.pins.PROMETHEUS_REPO
    loki                         = local.pins.GRAFANA_COMMUNITY_REPO
    grafana                      = local.pins.GRAFANA_COMMUNITY_REPO
    alloy                        = local.pins.GRAFANA_REPO
  }, var.chart_repositories)

  monitoring_namespace = "monitoring"
  operator_chart_path  = "${path.module}/../charts/quakestream-operator"
  # Helm values shared with the kind stack (scripts/kind-up.sh); EKS overrides are layered on top.
  shared_values_dir = "${path.module}/../charts/values"

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
      # The AWS Load Balancer Controller injects its pod readiness gate (ALB target health)
      # into pods of labelled namespaces: a rollout waits until new frontend pods are healthy
      # targets before it stops old ones, so the ALB never runs out of healthy targets.
      "elbv2.k8s.aws/pod-readiness-gate-inject" = "enabled"
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
  repository = local.chart_repositories.aws_load_balancer_controller
  chart      = "aws-load-balancer-controller"
  version    = local.chart_versions.aws_load_balancer_controller

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
  repository       = local.chart_repositories.external_dns
  chart            = "external-dns"
  version          = local.chart_versions.external_dns

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
  repository       = local.chart_repositories.strimzi
  chart            = "strimzi-kafka-operator"
  version          = local.chart_versions.strimzi

  values = [
    file("${local.shared_values_dir}/strimzi.yaml"),
    yamlencode({
      # The Kafka cluster, its KafkaTopics and the QuakeStream all live in var.namespace.
      watchNamespaces = [var.namespace]
    }),
  ]

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
  repository = local.chart_repositories.loki
  chart      = "loki"
  version    = local.chart_versions.loki

  # Monolithic mode, filesystem storage on a gp3 volume (the kind values, shared), with EKS sizes.
  # Use the chart's S3 storage (with an IRSA role) before scaling Loki out.
  values = [
    file("${local.shared_values_dir}/loki.yaml"),
    yamlencode({
      loki = {
        limits_config = {
          retention_period   = var.loki_retention
          max_query_lookback = var.loki_retention
        }
      }
      singleBinary = {
        persistence = {
          enabled      = true
          size         = "20Gi"
          storageClass = kubernetes_storage_class_v1.gp3.metadata[0].name
        }
      }
    }),
  ]

  depends_on = [kubernetes_namespace_v1.monitoring, module.eks]
}

# Prometheus server (no Alertmanager, no Pushgateway): scrapes every pod annotated
# prometheus.io/scrape=true (the operator annotates the QuakeStream workloads, the Kafka chart the
# Kafka exporter); kube-state-metrics gives Deployment/HPA replica counts for the dashboards.
resource "helm_release" "prometheus" {
  name       = "prometheus"
  namespace  = local.monitoring_namespace
  repository = local.chart_repositories.prometheus
  chart      = "prometheus"
  version    = local.chart_versions.prometheus

  values = [
    file("${local.shared_values_dir}/prometheus.yaml"),
    # The cost recording rules, generated by `quakestream cost generate` (docs/cost.md).
    file("${local.shared_values_dir}/prometheus-cost-rules.yaml"),
    yamlencode({
      server = {
        retention = "15d"
        persistentVolume = {
          enabled      = true
          size         = "20Gi"
          storageClass = kubernetes_storage_class_v1.gp3.metadata[0].name
        }
      }
    }),
  ]

  depends_on = [kubernetes_namespace_v1.monitoring, module.eks]
}

resource "kubernetes_config_map_v1" "dashboards" {
  for_each = local.dashboard_files

  metadata {
    # Same names as charts/dashboards/kustomization.yaml (quakestream-pipeline.json ->
    # quakestream-dashboard-pipeline), so the two ways of installing never duplicate a dashboard.
    name      = "quakestream-dashboard-${trimprefix(trimsuffix(lower(replace(each.value, "_", "-")), ".json"), "quakestream-")}"
    namespace = local.monitoring_namespace
    labels = {
      grafana_dashboard           = "1"
      "app.kubernetes.io/part-of" = "quakestream"
    }
    annotations = {
      grafana_folder = "QuakeStream"
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
  repository = local.chart_repositories.grafana
  chart      = "grafana"
  version    = local.chart_versions.grafana

  # Datasources (uids `prometheus`, `loki`) and the dashboard sidecar come from the shared values;
  # on EKS: no anonymous access, no LoadBalancer Service (reach it through the ALB or port-forward).
  values = [
    file("${local.shared_values_dir}/grafana.yaml"),
    yamlencode(merge(
      {
        # null: the chart generates a password into Secret grafana (key admin-password).
        adminPassword = var.grafana_admin_password == "" ? null : var.grafana_admin_password
        service       = { type = "ClusterIP", port = 80 }
        "grafana.ini" = {
          "auth.anonymous" = { enabled = false }
          server           = { root_url = var.grafana_public ? "https://${local.grafana_host}/" : "http://localhost:3000/" }
          users            = { allow_sign_up = false }
          # Signing out of Grafana also ends the Cognito session of the ALB login (cognito.tf).
          auth = var.grafana_public ? { signout_redirect_url = local.grafana_logout_url } : {}
        }
      },
      var.grafana_public ? {
        ingress = {
          enabled          = true
          ingressClassName = "alb"
          hosts            = [local.grafana_host]
          path             = "/"
          pathType         = "Prefix"
          # The ALB authenticates every request with Cognito first (cognito.tf).
          annotations = merge(local.frontend_ingress_annotations, {
            "alb.ingress.kubernetes.io/healthcheck-path" = "/api/health"
          }, local.grafana_auth_annotations)
        }
      } : {},
    )),
  ]

  depends_on = [helm_release.loki, helm_release.prometheus, helm_release.aws_load_balancer_controller]
}

# Alloy ships every pod's logs to Loki (Promtail is end of life); the pipeline (labels, JSON level)
# is the shared one in charts/values/alloy.yaml. One replica tails through the Kubernetes API.
resource "helm_release" "alloy" {
  name       = "alloy"
  namespace  = local.monitoring_namespace
  repository = local.chart_repositories.alloy
  chart      = "alloy"
  version    = local.chart_versions.alloy

  values = [file("${local.shared_values_dir}/alloy.yaml")]

  depends_on = [helm_release.loki]
}

# --- QuakeStream ---------------------------------------------------------------------------------

resource "helm_release" "quakestream_operator" {
  name             = "quakestream-operator"
  namespace        = "quakestream-system"
  create_namespace = true
  chart            = local.operator_chart_path

  values = [yamlencode({
    image = merge(
      { repository = var.operator_image_repository },
      var.operator_image_tag == "" ? {} : { tag = var.operator_image_tag },
    )
    # Namespaced RBAC (a Role in the QuakeStream's namespace), the chart's default scope.
    watchNamespace = var.namespace
  })]

  depends_on = [module.eks]
}

locals {
  # The QuakeStream spec (quakestream.io/v1alpha1, see crds/quakestream.yaml). The producer and the
  # operator have no role: they never call AWS. Nor has the analytics (spec.analytics, on by
  # default with two pods): it talks to Kafka only, and its topics follow kafka.topic below.
  quakestream_spec = {
    image = merge(
      { repository = var.image_repository },
      var.image_tag == "" ? {} : { tag = var.image_tag },
    )
    kafka = {
      clusterName = var.kafka_cluster_name
      # Mutual TLS on the cluster's TLS listener (9093); a KafkaUser with ACLs per workload.
      authentication = "tls"
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
    networkPolicy = {
      # The ALB (IP mode) connects to the pods from its interfaces in the VPC's subnets: the
      # VPC CIDR is the narrowest source a NetworkPolicy can name for it.
      frontendFrom        = [{ cidr = var.vpc_cidr }]
      monitoringNamespace = local.monitoring_namespace
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
