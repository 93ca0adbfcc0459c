// Package deploy holds the files that deploy backupbot: the sample policy,
// and (with later versions) the Dockerfile, Kubernetes manifests and the
// Slack app manifest. The sample policy is built into the binary so that
// `backupbot console` works from anywhere.
package deploy

import _ "embed"

//go:embed policy.yaml
var samplePolicy []byte

// SamplePolicy returns the contents of deploy/policy.yaml.
func SamplePolicy() []byte { return append([]byte(nil), samplePolicy...) }

// SamplePolicyName is how the built-in sample policy is named in messages.
const SamplePolicyName = "deploy/policy.yaml (built in)"
