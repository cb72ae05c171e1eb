{{/* Names, labels and the operator's RBAC rules, shared by the templates. */}}

{{- define "cmk-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "cmk-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "cmk-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "cmk-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "cmk-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "cmk-operator.labels" -}}
helm.sh/chart: {{ include "cmk-operator.chart" . }}
{{ include "cmk-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: cmk-operator
{{- end }}

{{- define "cmk-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "cmk-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name must name an existing ServiceAccount when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "cmk-operator.leaseName" -}}
{{- default (include "cmk-operator.fullname" .) .Values.leaderElection.leaseName }}
{{- end }}

{{- define "cmk-operator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* "true" when there are tenancy rules to give the operator (values: tenancy), else empty. */}}
{{- define "cmk-operator.tenancyEnabled" -}}
{{- if or .Values.tenancy.namespaces .Values.tenancy.roles }}true{{ end }}
{{- end }}

{{/* The --tenancy-config file (the format src/keys/tenancy.ts reads): namespaces, and roles when set. */}}
{{- define "cmk-operator.tenancyFile" -}}
{{- $file := dict "namespaces" (.Values.tenancy.namespaces | default dict) }}
{{- with .Values.tenancy.roles }}
{{- $_ := set $file "roles" . }}
{{- end }}
{{- toYaml $file }}
{{- end }}

{{- define "cmk-operator.tenancyMountPath" -}}
/etc/cmk-operator/tenancy
{{- end }}

{{/*
The operator's rules in the namespaces it watches (a ClusterRole, or one Role per watched
namespace). Each verb is one the code calls; test/integration/chart.test.ts proves that the set
granted equals the set used, so a verb added here without a caller (or a call added without a
verb) fails the build.
*/}}
{{- define "cmk-operator.rules" -}}
# The informers list and watch every kind. get and patch where the operator reconciles: patch
# adds and removes its finalizer (JSON Patch guarded by a test op); get re-reads one object after
# a write conflict, and before a one-shot action (creating a key, an on-demand rotation,
# submitting a job run, starting a session) so it is decided on the stored object, not the cache.
- apiGroups: ["cmk.io"]
  resources:
    - kmskeys
    - flinkapplications
    - keyspacestables
    - emrserverlessapplications
    - emrserverlessjobruns
    - emrserverlesssessions
  verbs: ["get", "list", "watch", "patch"]
# Read through the cache only.
- apiGroups: ["cmk.io"]
  resources: ["keyreferencegrants"]
  verbs: ["list", "watch"]
# Status is written with PUT on the /status subresource (carrying the resourceVersion).
- apiGroups: ["cmk.io"]
  resources:
    - kmskeys/status
    - flinkapplications/status
    - keyspacestables/status
    - emrserverlessapplications/status
    - emrserverlessjobruns/status
    - emrserverlesssessions/status
  verbs: ["update"]
# The audit trail: new Events, and series counts patched onto repeated ones.
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- if .Values.rbac.jobOverrideConfigMaps }}
# EMR Serverless job-override ConfigMaps (spec.jobOverridesConfigMap of an
# EmrServerlessApplication): read by name, written by server-side apply (patch; create when the
# ConfigMap is new). Values: rbac.jobOverrideConfigMaps.
- apiGroups: [""]
  resources: ["configmaps"]
  verbs: ["get", "create", "patch"]
{{- end }}
{{- end }}
