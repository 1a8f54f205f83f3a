{{/* Chart name, possibly overridden. */}}
{{- define "qso.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Object name prefix: the release name when it already contains the chart name. */}}
{{- define "qso.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Labels that select the operator pod. */}}
{{- define "qso.selectorLabels" -}}
app.kubernetes.io/name: {{ include "qso.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Labels of every object. */}}
{{- define "qso.labels" -}}
{{ include "qso.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: quakestream
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* Whether the operator watches every namespace (scope `cluster`); fails on an unknown scope. */}}
{{- define "qso.clusterScope" -}}
{{- if eq .Values.scope "cluster" -}}
{{- if .Values.watchNamespace -}}
{{- fail "watchNamespace goes with scope=namespace; scope=cluster watches every namespace" -}}
{{- end -}}
true
{{- else if ne .Values.scope "namespace" -}}
{{- fail (printf "scope must be namespace or cluster, got %q" .Values.scope) -}}
{{- end -}}
{{- end -}}

{{/* The namespace watched with scope `namespace`. */}}
{{- define "qso.watchNamespace" -}}
{{- default .Release.Namespace .Values.watchNamespace -}}
{{- end -}}

{{/* The operator's ServiceAccount name. */}}
{{- define "qso.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "qso.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}
