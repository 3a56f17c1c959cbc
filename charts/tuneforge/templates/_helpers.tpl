{{- define "tuneforge.name" -}}tuneforge{{- end -}}

{{- define "tuneforge.fullname" -}}
{{- if contains "tuneforge" .Release.Name -}}{{ .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else -}}{{ printf "%s-tuneforge" .Release.Name | trunc 63 | trimSuffix "-" }}{{- end -}}
{{- end -}}

{{- define "tuneforge.labels" -}}
app.kubernetes.io/name: {{ include "tuneforge.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "tuneforge.selector" -}}
app.kubernetes.io/name: {{ include "tuneforge.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{- define "tuneforge.cacheClaim" -}}
{{- if .Values.modelCache.existingClaim -}}{{ .Values.modelCache.existingClaim }}
{{- else if .Values.modelCache.create -}}{{ include "tuneforge.fullname" . }}-model-cache{{- end -}}
{{- end -}}

{{/* The operator's permissions: exactly what it calls, documented in charts/tuneforge/README.md. */}}
{{- define "tuneforge.rules" -}}
- apiGroups: [tuneforge.io]
  resources: [finetunejobs, mergejobs, quantizejobs]
  verbs: [get, list, watch, patch]
- apiGroups: [tuneforge.io]
  resources: [finetunejobs/status, mergejobs/status, quantizejobs/status]
  verbs: [get, patch]
{{- /* Child Jobs and Services name their resource as owner with blockOwnerDeletion; the
OwnerReferencesPermissionEnforcement admission plugin (OpenShift, hardened clusters) allows that only to
who may update the owner's finalizers. */}}
- apiGroups: [tuneforge.io]
  resources: [finetunejobs/finalizers, mergejobs/finalizers, quantizejobs/finalizers]
  verbs: [update]
- apiGroups: [batch]
  resources: [jobs]
  verbs: [get, list, watch, create, patch]
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list, watch]
- apiGroups: [""]
  resources: [pods/log]
  verbs: [get]
- apiGroups: [""]
  resources: [services]
  verbs: [create]
- apiGroups: [""]
  resources: [events]
  verbs: [create]
{{- /* Kueue's reason for holding a queued Job, mirrored into the resource's status. */}}
- apiGroups: [kueue.x-k8s.io]
  resources: [workloads]
  verbs: [list]
{{- end -}}
