{{/* The name of the release's objects: the release name, with the chart's name unless it holds it. */}}
{{- define "backupbot.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "backupbot.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "backupbot.labels" -}}
{{ include "backupbot.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "backupbot.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "backupbot.policyConfigMap" -}}
{{- .Values.policy.existingConfigMap | default (printf "%s-policy" (include "backupbot.fullname" .)) -}}
{{- end -}}

{{- define "backupbot.policy" -}}
{{- .Values.policy.inline | default (.Files.Get "files/policy.yaml") -}}
{{- end -}}

{{- define "backupbot.claimName" -}}
{{- .Values.database.sqlite.existingClaim | default (printf "%s-data" (include "backupbot.fullname" .)) -}}
{{- end -}}

{{/* The Secret's keys the configuration reads, one per variable. */}}
{{- define "backupbot.secretKeys" -}}
- SLACK_APP_TOKEN
- SLACK_BOT_TOKEN
{{- if not .Values.commvault.simulate }}
{{- if eq .Values.commvault.auth "login" }}
- COMMVAULT_USERNAME
- COMMVAULT_PASSWORD
{{- else if eq .Values.commvault.auth "token" }}
- COMMVAULT_AUTHTOKEN
{{- else }}
- COMMVAULT_ACCESS_TOKEN
- COMMVAULT_REFRESH_TOKEN
{{- end }}
{{- end }}
{{- if eq .Values.database.type "postgres" }}
- BACKUPBOT_DATABASE_URL
{{- end }}
{{- end -}}

{{/* What the chart refuses to install. */}}
{{- define "backupbot.validate" -}}
{{- if and (eq .Values.database.type "sqlite") (gt (int .Values.replicas) 1) -}}
{{- fail "replicas: SQLite allows one replica (one process holds the file); set database.type=postgres for more" -}}
{{- end -}}
{{- if and (not .Values.commvault.simulate) (not .Values.commvault.url) -}}
{{- fail "commvault.url: required, like https://cs.example.com/commandcenter/api (or commvault.simulate=true to try the bot)" -}}
{{- end -}}
{{- end -}}

{{/* Where the Secret's keys are mounted as files, one per key. */}}
{{- define "backupbot.secretsDir" -}}
/etc/backupbot/secrets
{{- end -}}

{{/* The environment of the bot and of its check: the chart's ConfigMap, and
     for each of the Secret's keys NAME, NAME_FILE naming its file (secrets
     stay out of the environment, where /proc/PID/environ and crash dumps
     would show them). */}}
{{- define "backupbot.env" -}}
envFrom:
  - configMapRef:
      name: {{ include "backupbot.fullname" . }}-env
env:
{{- range (include "backupbot.secretKeys" . | fromYamlArray) }}
  - name: {{ . }}_FILE
    value: {{ include "backupbot.secretsDir" $ }}/{{ . }}
{{- end }}
{{- end -}}

{{- define "backupbot.mounts" -}}
volumeMounts:
  - name: policy
    mountPath: /etc/backupbot/policy
    readOnly: true
  - name: secrets
    mountPath: {{ include "backupbot.secretsDir" . }}
    readOnly: true
{{- if .Values.commvault.caConfigMap }}
  - name: commvault-ca
    mountPath: /etc/backupbot/ca
    readOnly: true
{{- end }}
{{- if eq .Values.database.type "sqlite" }}
  - name: data
    mountPath: /var/lib/backupbot
{{- end }}
  # The root filesystem is read-only: temporary files go here.
  - name: tmp
    mountPath: /tmp
{{- end -}}
