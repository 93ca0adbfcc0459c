// Package deploy holds the files that deploy backupbot:
//
//   - policy.yaml: the commented sample policy. It is built into the binary
//     (SamplePolicy), so that `backupbot console` works from anywhere, and
//     it is the Helm chart's default policy.
//   - slack-app-manifest.yaml: the Slack app (socket mode, /backup, the bot
//     scopes).
//   - Dockerfile: the image, built from the repository root with
//     `docker build -f deploy/Dockerfile .`: a static binary (CGO_ENABLED=0)
//     on distroless static, run as nonroot (65532), the SQLite database on
//     the volume /var/lib/backupbot.
//   - helm/backupbot: the Helm chart, with the alerts (files/alerts.yaml)
//     and the Grafana dashboard (files/dashboard.json).
//   - kubernetes/: the chart rendered as plain manifests, with the values
//     they were rendered with.
//
// Helm (lint, template and the values schema) and promtool check these
// files in .ci/run; cmd/backupbot's deploy_test.go checks that they agree
// with the program (the variables it reads, its port and user, the metrics
// it exports, its slash command and scopes).
package deploy

import _ "embed"

//go:embed policy.yaml
var samplePolicy []byte

// SamplePolicy returns the contents of deploy/policy.yaml.
func SamplePolicy() []byte { return append([]byte(nil), samplePolicy...) }

// SamplePolicyName is how the built-in sample policy is named in messages.
const SamplePolicyName = "deploy/policy.yaml (built in)"
