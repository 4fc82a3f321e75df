{{- define "laio.name" -}}logicapp-identity-operator{{- end -}}
{{- define "laio.fullname" -}}{{ .Release.Name | trunc 40 | trimSuffix "-" }}-{{ include "laio.name" . | trunc 22 }}{{- end -}}
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
