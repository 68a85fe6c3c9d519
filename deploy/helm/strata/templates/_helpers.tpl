{{/* The chart name, or nameOverride. */}}
{{- define "strata.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The full name of the release's objects. */}}
{{- define "strata.fullname" -}}
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

{{/* The headless Service that gives each broker its DNS name. */}}
{{- define "strata.headlessName" -}}
{{- printf "%s-headless" (include "strata.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "strata.selectorLabels" -}}
app.kubernetes.io/name: {{ include "strata.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "strata.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "strata.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "strata.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "strata.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The strata config file: .Values.config with the settings the chart owns
(listen addresses and data directory) put over it. advertised-addr is
dropped: STRATA_ADVERTISED_ADDR, set per pod, would win over it anyway.
*/}}
{{- define "strata.config" -}}
{{- $owned := dict "listen" (printf "0.0.0.0:%v" .Values.ports.kafka) "http-listen" (printf "0.0.0.0:%v" .Values.ports.http) "data-dir" "/var/lib/strata" }}
{{- $cfg := mergeOverwrite (omit (deepCopy .Values.config) "advertised-addr") $owned }}
{{- toYaml $cfg }}
{{- end }}
