// Package deploy holds the files that deploy backupbot:
//
//   - policy.yaml: the commented sample policy. It is built into the binary
//     (SamplePolicy), so that `backupbot console` works from anywhere.
//   - slack-app-manifest.yaml: the Slack app (socket mode, /backup, the bot
//     scopes).
//   - Dockerfile: the image, built from the repository root with
//     `docker build -f deploy/Dockerfile .`: a static binary (CGO_ENABLED=0)
//     on distroless static, run as nonroot (65532), the SQLite database on
//     the volume /var/lib/backupbot.
//   - kubernetes/: namespace-less manifests: the Deployment (one replica,
//     Recreate, because of SQLite; `backupbot check` as its init container;
//     probes on /healthz and /readyz; a restricted security context), the
//     Secret with the tokens (placeholders), the ConfigMap with the policy
//     (a copy of policy.yaml), the PersistentVolumeClaim for the database
//     and the Service for /metrics.
//
// Its tests check these files without building or deploying anything: the
// manifests are decoded strictly, and every environment variable they and
// the Dockerfile set must be one that cmd/backupbot/config.go reads.
package deploy

import _ "embed"

//go:embed policy.yaml
var samplePolicy []byte

// SamplePolicy returns the contents of deploy/policy.yaml.
func SamplePolicy() []byte { return append([]byte(nil), samplePolicy...) }

// SamplePolicyName is how the built-in sample policy is named in messages.
const SamplePolicyName = "deploy/policy.yaml (built in)"
