package deploy

import (
	"bytes"
	"os"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestSamplePolicyIsYAML checks that the built-in sample is one well-formed
// YAML mapping with accounts. Whether it is a valid policy is the auth
// package's test: deploy does not depend on auth.
func TestSamplePolicyIsYAML(t *testing.T) {
	data := SamplePolicy()
	if len(data) == 0 {
		t.Fatal("SamplePolicy is empty")
	}
	onDisk, err := os.ReadFile("policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data, onDisk) {
		t.Error("SamplePolicy differs from policy.yaml")
	}
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("policy.yaml: %v", err)
	}
	if _, ok := doc["accounts"].(map[string]any); !ok {
		t.Error("policy.yaml: no accounts mapping")
	}
	data[0] ^= 0xff // SamplePolicy returns a copy
	if !bytes.Equal(SamplePolicy(), onDisk) {
		t.Error("SamplePolicy returns its embedded bytes, not a copy")
	}
}
