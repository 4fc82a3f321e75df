{{- define "laio.name" -}}logicapp-identity-operator{{- end -}}
{{- define "laio.fullname" -}}
{{- if contains (include "laio.name" .) .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "laio.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- define "laio.labels" -}}
app.kubernetes.io/name: {{ include "laio.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}
{{- define "laio.selectorLabels" -}}
app.kubernetes.io/name: {{ include "laio.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}
