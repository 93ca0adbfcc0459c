package deploy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

const k8sDir = "kubernetes"

// The names the manifests give their objects; the Deployment refers to them.
const (
	secretName    = "backupbot-secrets"
	configMapName = "backupbot-policy"
	pvcName       = "backupbot-data"
	policyKey     = "policy.yaml"
	runtimeUID    = 65532 // nonroot in gcr.io/distroless/static
)

// The types below model the parts of the Kubernetes API the manifests use.
// Documents are decoded strictly: a key that is not here is an error, so
// that a typo (readOnlyRootFileSystem, secretKeyref) cannot hide from the
// checks. A real field the manifests start using has to be added here,
// which is also where a check for it belongs.

type typeMeta struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
}

type objectMeta struct {
	Name        string            `yaml:"name"`
	Namespace   string            `yaml:"namespace"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

type deployment struct {
	typeMeta `yaml:",inline"`
	Metadata objectMeta `yaml:"metadata"`
	Spec     struct {
		Replicas             *int `yaml:"replicas"`
		RevisionHistoryLimit *int `yaml:"revisionHistoryLimit"`
		Strategy             struct {
			Type          string `yaml:"type"`
			RollingUpdate any    `yaml:"rollingUpdate"`
		} `yaml:"strategy"`
		Selector struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"selector"`
		Template struct {
			Metadata objectMeta `yaml:"metadata"`
			Spec     podSpec    `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

type podSpec struct {
	TerminationGracePeriodSeconds *int64 `yaml:"terminationGracePeriodSeconds"`
	AutomountServiceAccountToken  *bool  `yaml:"automountServiceAccountToken"`
	EnableServiceLinks            *bool  `yaml:"enableServiceLinks"`
	ServiceAccountName            string `yaml:"serviceAccountName"`
	ImagePullSecrets              []struct {
		Name string `yaml:"name"`
	} `yaml:"imagePullSecrets"`
	NodeSelector      map[string]string   `yaml:"nodeSelector"`
	Tolerations       any                 `yaml:"tolerations"`
	Affinity          any                 `yaml:"affinity"`
	PriorityClassName string              `yaml:"priorityClassName"`
	SecurityContext   *podSecurityContext `yaml:"securityContext"`
	InitContainers    []container         `yaml:"initContainers"`
	Containers        []container         `yaml:"containers"`
	Volumes           []volume            `yaml:"volumes"`
}

type podSecurityContext struct {
	RunAsNonRoot        *bool           `yaml:"runAsNonRoot"`
	RunAsUser           *int64          `yaml:"runAsUser"`
	RunAsGroup          *int64          `yaml:"runAsGroup"`
	FSGroup             *int64          `yaml:"fsGroup"`
	FSGroupChangePolicy string          `yaml:"fsGroupChangePolicy"`
	SeccompProfile      *seccompProfile `yaml:"seccompProfile"`
}

type seccompProfile struct {
	Type             string `yaml:"type"`
	LocalhostProfile string `yaml:"localhostProfile"`
}

type container struct {
	Name            string           `yaml:"name"`
	Image           string           `yaml:"image"`
	ImagePullPolicy string           `yaml:"imagePullPolicy"`
	Command         []string         `yaml:"command"`
	Args            []string         `yaml:"args"`
	Env             []envVar         `yaml:"env"`
	Ports           []containerPort  `yaml:"ports"`
	LivenessProbe   *probe           `yaml:"livenessProbe"`
	ReadinessProbe  *probe           `yaml:"readinessProbe"`
	StartupProbe    *probe           `yaml:"startupProbe"`
	Resources       *resources       `yaml:"resources"`
	SecurityContext *securityContext `yaml:"securityContext"`
	VolumeMounts    []volumeMount    `yaml:"volumeMounts"`
}

type envVar struct {
	Name      string  `yaml:"name"`
	Value     *string `yaml:"value"`
	ValueFrom *struct {
		SecretKeyRef    *keySelector `yaml:"secretKeyRef"`
		ConfigMapKeyRef *keySelector `yaml:"configMapKeyRef"`
	} `yaml:"valueFrom"`
}

type keySelector struct {
	Name     string `yaml:"name"`
	Key      string `yaml:"key"`
	Optional *bool  `yaml:"optional"`
}

type containerPort struct {
	Name          string `yaml:"name"`
	ContainerPort int    `yaml:"containerPort"`
	Protocol      string `yaml:"protocol"`
}

type probe struct {
	HTTPGet *struct {
		Path   string      `yaml:"path"`
		Port   intOrString `yaml:"port"`
		Scheme string      `yaml:"scheme"`
	} `yaml:"httpGet"`
	InitialDelaySeconds *int `yaml:"initialDelaySeconds"`
	PeriodSeconds       *int `yaml:"periodSeconds"`
	TimeoutSeconds      *int `yaml:"timeoutSeconds"`
	SuccessThreshold    *int `yaml:"successThreshold"`
	FailureThreshold    *int `yaml:"failureThreshold"`
}

type resources struct {
	Requests map[string]string `yaml:"requests"`
	Limits   map[string]string `yaml:"limits"`
}

type securityContext struct {
	AllowPrivilegeEscalation *bool  `yaml:"allowPrivilegeEscalation"`
	ReadOnlyRootFilesystem   *bool  `yaml:"readOnlyRootFilesystem"`
	Privileged               *bool  `yaml:"privileged"`
	RunAsNonRoot             *bool  `yaml:"runAsNonRoot"`
	RunAsUser                *int64 `yaml:"runAsUser"`
	RunAsGroup               *int64 `yaml:"runAsGroup"`
	Capabilities             *struct {
		Add  []string `yaml:"add"`
		Drop []string `yaml:"drop"`
	} `yaml:"capabilities"`
	SeccompProfile *seccompProfile `yaml:"seccompProfile"`
}

type volumeMount struct {
	Name      string `yaml:"name"`
	MountPath string `yaml:"mountPath"`
	ReadOnly  bool   `yaml:"readOnly"`
	SubPath   string `yaml:"subPath"`
}

type volume struct {
	Name      string `yaml:"name"`
	ConfigMap *struct {
		Name  string `yaml:"name"`
		Items []struct {
			Key  string `yaml:"key"`
			Path string `yaml:"path"`
		} `yaml:"items"`
		DefaultMode *int  `yaml:"defaultMode"`
		Optional    *bool `yaml:"optional"`
	} `yaml:"configMap"`
	PersistentVolumeClaim *struct {
		ClaimName string `yaml:"claimName"`
		ReadOnly  bool   `yaml:"readOnly"`
	} `yaml:"persistentVolumeClaim"`
	EmptyDir *struct {
		Medium    string `yaml:"medium"`
		SizeLimit string `yaml:"sizeLimit"`
	} `yaml:"emptyDir"`
}

type secret struct {
	typeMeta   `yaml:",inline"`
	Metadata   objectMeta        `yaml:"metadata"`
	Type       string            `yaml:"type"`
	StringData map[string]string `yaml:"stringData"`
	Data       map[string]string `yaml:"data"`
	Immutable  *bool             `yaml:"immutable"`
}

type configMap struct {
	typeMeta  `yaml:",inline"`
	Metadata  objectMeta        `yaml:"metadata"`
	Data      map[string]string `yaml:"data"`
	Immutable *bool             `yaml:"immutable"`
}

type persistentVolumeClaim struct {
	typeMeta `yaml:",inline"`
	Metadata objectMeta `yaml:"metadata"`
	Spec     struct {
		AccessModes []string `yaml:"accessModes"`
		Resources   struct {
			Requests map[string]string `yaml:"requests"`
		} `yaml:"resources"`
		StorageClassName *string `yaml:"storageClassName"`
		VolumeMode       string  `yaml:"volumeMode"`
	} `yaml:"spec"`
}

type service struct {
	typeMeta `yaml:",inline"`
	Metadata objectMeta `yaml:"metadata"`
	Spec     struct {
		Type                     string            `yaml:"type"`
		Selector                 map[string]string `yaml:"selector"`
		PublishNotReadyAddresses *bool             `yaml:"publishNotReadyAddresses"`
		Ports                    []struct {
			Name       string      `yaml:"name"`
			Port       int         `yaml:"port"`
			TargetPort intOrString `yaml:"targetPort"`
			Protocol   string      `yaml:"protocol"`
		} `yaml:"ports"`
	} `yaml:"spec"`
}

// intOrString is a port given by number (8080) or by name (http).
type intOrString struct {
	Int    int
	String string
	set    bool
}

func (p *intOrString) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: a port must be a number or a name", n.Line)
	}
	p.set = true
	if n.Tag == "!!int" {
		i, err := strconv.Atoi(n.Value)
		if err != nil {
			return fmt.Errorf("line %d: port %q: %v", n.Line, n.Value, err)
		}
		p.Int = i
		return nil
	}
	p.String = n.Value
	return nil
}

func (p intOrString) text() string {
	if p.String != "" {
		return p.String
	}
	return strconv.Itoa(p.Int)
}

// manifests is every object in deploy/kubernetes.
type manifests struct {
	deployments []*deployment
	secrets     []*secret
	configMaps  []*configMap
	pvcs        []*persistentVolumeClaim
	services    []*service
	files       map[string]string // "Kind/name" → file, for messages
}

var apiVersions = map[string]string{
	"Deployment":            "apps/v1",
	"Secret":                "v1",
	"ConfigMap":             "v1",
	"PersistentVolumeClaim": "v1",
	"Service":               "v1",
}

// loadManifests decodes every YAML document of every file in
// deploy/kubernetes, each strictly into the type of its kind.
func loadManifests(t *testing.T) *manifests {
	t.Helper()
	var files []string
	for _, pat := range []string{"*.yaml", "*.yml", "*.json"} {
		f, err := filepath.Glob(filepath.Join(k8sDir, pat))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f...)
	}
	slices.Sort(files)
	if len(files) == 0 {
		t.Fatalf("no manifests in deploy/%s", k8sDir)
	}
	m := &manifests{files: map[string]string{}}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		// First pass: each document's kind.
		var kinds []typeMeta
		dec := yaml.NewDecoder(bytes.NewReader(data))
		for {
			var tm typeMeta
			err := dec.Decode(&tm)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			kinds = append(kinds, tm)
		}
		// Second pass: strictly, into the kind's type.
		dec = yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		for i, tm := range kinds {
			var obj any
			var meta *objectMeta
			switch tm.Kind {
			case "Deployment":
				o := new(deployment)
				m.deployments, obj, meta = append(m.deployments, o), o, &o.Metadata
			case "Secret":
				o := new(secret)
				m.secrets, obj, meta = append(m.secrets, o), o, &o.Metadata
			case "ConfigMap":
				o := new(configMap)
				m.configMaps, obj, meta = append(m.configMaps, o), o, &o.Metadata
			case "PersistentVolumeClaim":
				o := new(persistentVolumeClaim)
				m.pvcs, obj, meta = append(m.pvcs, o), o, &o.Metadata
			case "Service":
				o := new(service)
				m.services, obj, meta = append(m.services, o), o, &o.Metadata
			case "":
				t.Fatalf("%s: document %d has no kind", file, i+1)
			default:
				t.Fatalf("%s: document %d: kind %s is not one the test knows (%s); add it to kubernetes_test.go, with checks",
					file, i+1, tm.Kind, strings.Join(slices.Sorted(maps.Keys(apiVersions)), ", "))
			}
			if err := dec.Decode(obj); err != nil {
				t.Fatalf("%s: %s: %v (a field the test does not model is a typo, or a real field to add to the types in kubernetes_test.go)", file, tm.Kind, err)
			}
			if want := apiVersions[tm.Kind]; tm.APIVersion != want {
				t.Errorf("%s: %s: apiVersion %q, want %q", file, tm.Kind, tm.APIVersion, want)
			}
			if meta.Name == "" {
				t.Errorf("%s: %s without metadata.name", file, tm.Kind)
			}
			if meta.Namespace != "" {
				t.Errorf("%s: %s/%s: metadata.namespace %q: the manifests name no namespace (kubectl -n picks it)", file, tm.Kind, meta.Name, meta.Namespace)
			}
			key := tm.Kind + "/" + meta.Name
			if prev, dup := m.files[key]; dup {
				t.Errorf("%s: %s defined twice (also in %s)", file, key, prev)
			}
			m.files[key] = file
		}
	}
	return m
}

// theDeployment returns the only Deployment, and its one container: the bot.
func (m *manifests) theDeployment(t *testing.T) (*deployment, *container) {
	t.Helper()
	if len(m.deployments) != 1 {
		t.Fatalf("deploy/%s: %d Deployments, want exactly one (backupbot)", k8sDir, len(m.deployments))
	}
	d := m.deployments[0]
	if n := len(d.Spec.Template.Spec.Containers); n != 1 {
		t.Fatalf("Deployment %s: %d containers, want one (the bot)", d.Metadata.Name, n)
	}
	return d, &d.Spec.Template.Spec.Containers[0]
}

// allContainers returns the Deployment's init containers and containers.
func allContainers(d *deployment) []*container {
	var cs []*container
	for i := range d.Spec.Template.Spec.InitContainers {
		cs = append(cs, &d.Spec.Template.Spec.InitContainers[i])
	}
	for i := range d.Spec.Template.Spec.Containers {
		cs = append(cs, &d.Spec.Template.Spec.Containers[i])
	}
	return cs
}

func (m *manifests) secret(name string) *secret {
	for _, s := range m.secrets {
		if s.Metadata.Name == name {
			return s
		}
	}
	return nil
}

func (m *manifests) configMap(name string) *configMap {
	for _, c := range m.configMaps {
		if c.Metadata.Name == name {
			return c
		}
	}
	return nil
}

func (m *manifests) pvc(name string) *persistentVolumeClaim {
	for _, p := range m.pvcs {
		if p.Metadata.Name == name {
			return p
		}
	}
	return nil
}

// valueVars are the variables the tests check the values of: the manifests
// must give them as values, which the test can read.
var valueVars = []string{"BACKUPBOT_POLICY", "BACKUPBOT_DATABASE_URL", "BACKUPBOT_HTTP_ADDR", "BACKUPBOT_SHUTDOWN_TIMEOUT"}

// plainEnv returns the container's env given as values (not valueFrom).
func plainEnv(t *testing.T, c *container) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, e := range c.Env {
		switch {
		case e.Value != nil:
			env[e.Name] = *e.Value
		case slices.Contains(valueVars, e.Name):
			t.Fatalf("container %s: env %s: give it as a value, which the tests check against the mounts, ports and grace period", c.Name, e.Name)
		}
	}
	return env
}

func envNames(c *container) []string {
	var names []string
	for _, e := range c.Env {
		names = append(names, e.Name)
	}
	return names
}

func TestKubernetesObjects(t *testing.T) {
	m := loadManifests(t)
	m.theDeployment(t)
	if m.secret(secretName) == nil {
		t.Errorf("deploy/%s: no Secret %s", k8sDir, secretName)
	}
	if m.configMap(configMapName) == nil {
		t.Errorf("deploy/%s: no ConfigMap %s (the policy)", k8sDir, configMapName)
	}
	if m.pvc(pvcName) == nil {
		t.Errorf("deploy/%s: no PersistentVolumeClaim %s (the SQLite database)", k8sDir, pvcName)
	}
	if len(m.services) != 1 {
		t.Errorf("deploy/%s: %d Services, want one (metrics)", k8sDir, len(m.services))
	}
}

// TestKubernetesEnvIsRead checks that every variable the manifests set is
// one the program reads: a misspelt name would be silently ignored.
func TestKubernetesEnvIsRead(t *testing.T) {
	prog := programEnv(t)
	m := loadManifests(t)
	d, _ := m.theDeployment(t)
	for _, c := range allContainers(d) {
		seen := map[string]bool{}
		for _, e := range c.Env {
			if _, ok := prog[e.Name]; !ok {
				t.Errorf("container %s: env %s is not a variable the program reads (%s); a typo? The program reads %s",
					c.Name, e.Name, configGo, strings.Join(slices.Sorted(maps.Keys(prog)), ", "))
			}
			if seen[e.Name] {
				t.Errorf("container %s: env %s set twice", c.Name, e.Name)
			}
			seen[e.Name] = true
			hasFrom := e.ValueFrom != nil && (e.ValueFrom.SecretKeyRef != nil || e.ValueFrom.ConfigMapKeyRef != nil)
			if (e.Value != nil) == hasFrom {
				t.Errorf("container %s: env %s: set exactly one of value and valueFrom.secretKeyRef/configMapKeyRef", c.Name, e.Name)
			}
		}
	}
}

// secretVars must come from a Secret, never a plain value in a manifest.
var secretVars = []string{"SLACK_APP_TOKEN", "SLACK_BOT_TOKEN", "COMMVAULT_ACCESS_TOKEN", "COMMVAULT_REFRESH_TOKEN",
	"COMMVAULT_AUTHTOKEN", "COMMVAULT_USERNAME", "COMMVAULT_PASSWORD"}

// TestKubernetesRequiredEnv checks that the bot and its check get what the
// Slack bot needs (config.go: check and checkCommvault).
func TestKubernetesRequiredEnv(t *testing.T) {
	m := loadManifests(t)
	d, _ := m.theDeployment(t)
	for _, c := range allContainers(d) {
		names := envNames(c)
		for _, name := range []string{"SLACK_APP_TOKEN", "SLACK_BOT_TOKEN", "COMMVAULT_API_URL", "BACKUPBOT_POLICY", "BACKUPBOT_DATABASE_URL"} {
			if !slices.Contains(names, name) {
				t.Errorf("container %s: env %s missing: the Slack bot needs it", c.Name, name)
			}
		}
		// Exactly one way to authenticate, whole (config.go: commvaultAuth).
		access := slices.Contains(names, "COMMVAULT_ACCESS_TOKEN") && slices.Contains(names, "COMMVAULT_REFRESH_TOKEN")
		halfAccess := slices.Contains(names, "COMMVAULT_ACCESS_TOKEN") != slices.Contains(names, "COMMVAULT_REFRESH_TOKEN")
		token := slices.Contains(names, "COMMVAULT_AUTHTOKEN")
		user, pass := slices.Contains(names, "COMMVAULT_USERNAME"), slices.Contains(names, "COMMVAULT_PASSWORD")
		ways := 0
		for _, set := range []bool{access, token, user || pass} {
			if set {
				ways++
			}
		}
		switch {
		case halfAccess || user != pass:
			t.Errorf("container %s: COMMVAULT_ACCESS_TOKEN goes with COMMVAULT_REFRESH_TOKEN, COMMVAULT_USERNAME with COMMVAULT_PASSWORD", c.Name)
		case ways > 1:
			t.Errorf("container %s: several ways to authenticate to Commvault set: the program refuses that; keep one", c.Name)
		case ways == 0:
			t.Errorf("container %s: set COMMVAULT_ACCESS_TOKEN and COMMVAULT_REFRESH_TOKEN, or COMMVAULT_USERNAME and COMMVAULT_PASSWORD, or COMMVAULT_AUTHTOKEN", c.Name)
		}
		for _, e := range c.Env {
			if slices.Contains(secretVars, e.Name) && (e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil) {
				t.Errorf("container %s: env %s: take it from the Secret (valueFrom.secretKeyRef), never a value in the manifest", c.Name, e.Name)
			}
		}
	}
}

// TestKubernetesSecretRefs checks that every secretKeyRef names a Secret and
// key the manifests define, and that the Secret holds placeholders only.
func TestKubernetesSecretRefs(t *testing.T) {
	m := loadManifests(t)
	d, _ := m.theDeployment(t)
	used := map[string]bool{}
	for _, c := range allContainers(d) {
		for _, e := range c.Env {
			if e.ValueFrom == nil {
				continue
			}
			if r := e.ValueFrom.ConfigMapKeyRef; r != nil {
				cm := m.configMap(r.Name)
				if cm == nil {
					t.Errorf("container %s: env %s: configMapKeyRef to ConfigMap %q, which the manifests do not define", c.Name, e.Name, r.Name)
				} else if _, ok := cm.Data[r.Key]; !ok {
					t.Errorf("container %s: env %s: ConfigMap %s has no key %q", c.Name, e.Name, r.Name, r.Key)
				}
			}
			r := e.ValueFrom.SecretKeyRef
			if r == nil {
				continue
			}
			if r.Optional != nil && *r.Optional {
				t.Errorf("container %s: env %s: secretKeyRef optional: a missing key should stop the pod, not start the bot without it", c.Name, e.Name)
			}
			s := m.secret(r.Name)
			if s == nil {
				t.Errorf("container %s: env %s: secretKeyRef to Secret %q, which the manifests do not define (want %s)", c.Name, e.Name, r.Name, secretName)
				continue
			}
			_, inString := s.StringData[r.Key]
			_, inData := s.Data[r.Key]
			if !inString && !inData {
				t.Errorf("container %s: env %s: Secret %s has no key %q (it has %s)", c.Name, e.Name, r.Name, r.Key,
					strings.Join(slices.Sorted(maps.Keys(s.StringData)), ", "))
			}
			used[r.Name+"/"+r.Key] = true
		}
	}
	for _, s := range m.secrets {
		if s.Type != "Opaque" {
			t.Errorf("Secret %s: type %q, want Opaque", s.Metadata.Name, s.Type)
		}
		if len(s.Data) > 0 {
			t.Errorf("Secret %s: data holds values; the shipped Secret has placeholders in stringData only (real tokens come from a secret manager)", s.Metadata.Name)
		}
		for k, v := range s.StringData {
			if !used[s.Metadata.Name+"/"+k] {
				t.Errorf("Secret %s: key %s is not referenced by any env secretKeyRef: a typo, or left over", s.Metadata.Name, k)
			}
			if !strings.Contains(v, "REPLACE-ME") {
				t.Errorf("Secret %s: %s is not a placeholder (…REPLACE-ME): never commit a real secret", s.Metadata.Name, k)
			}
		}
		// The program checks these prefixes before anything else: keep the
		// placeholders shaped like the real thing.
		for k, prefix := range map[string]string{"SLACK_APP_TOKEN": "xapp-", "SLACK_BOT_TOKEN": "xoxb-"} {
			if v, ok := s.StringData[k]; ok && !strings.HasPrefix(v, prefix) {
				t.Errorf("Secret %s: %s placeholder %q should start with %s, like the real token", s.Metadata.Name, k, v, prefix)
			}
		}
	}
}

// TestKubernetesPolicyConfigMap checks that the ConfigMap's policy is
// deploy/policy.yaml, so that the two cannot drift.
func TestKubernetesPolicyConfigMap(t *testing.T) {
	m := loadManifests(t)
	cm := m.configMap(configMapName)
	if cm == nil {
		t.Fatalf("no ConfigMap %s", configMapName)
	}
	got, ok := cm.Data[policyKey]
	if !ok {
		t.Fatalf("ConfigMap %s: no data.%s", configMapName, policyKey)
	}
	want, err := os.ReadFile("policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	g, w := strings.TrimSpace(got), strings.TrimSpace(string(want))
	if g == w {
		return
	}
	gl, wl := strings.Split(g, "\n"), strings.Split(w, "\n")
	line := 0
	for line < len(gl) && line < len(wl) && gl[line] == wl[line] {
		line++
	}
	gotLine, wantLine := "(end)", "(end)"
	if line < len(gl) {
		gotLine = gl[line]
	}
	if line < len(wl) {
		wantLine = wl[line]
	}
	t.Errorf("%s: data.%s differs from deploy/policy.yaml at its line %d:\n  ConfigMap:   %q\n  policy.yaml: %q\ncopy deploy/policy.yaml into it again, indented by 4 spaces, e.g.\n  sed 's/^\\(.\\)/    \\1/' deploy/policy.yaml",
		m.files["ConfigMap/"+configMapName], policyKey, line+1, gotLine, wantLine)
}

// mountOf returns the container's mount at dir and its volume.
func mountOf(t *testing.T, d *deployment, c *container, dir string) (*volumeMount, *volume) {
	t.Helper()
	for i := range c.VolumeMounts {
		vm := &c.VolumeMounts[i]
		if path.Clean(vm.MountPath) != dir {
			continue
		}
		for j := range d.Spec.Template.Spec.Volumes {
			if v := &d.Spec.Template.Spec.Volumes[j]; v.Name == vm.Name {
				return vm, v
			}
		}
		t.Fatalf("container %s: volumeMount %s: no volume named %q", c.Name, vm.MountPath, vm.Name)
	}
	return nil, nil
}

// TestKubernetesMounts checks that the policy and the database are where the
// environment says, on the right volumes.
func TestKubernetesMounts(t *testing.T) {
	prog := programEnv(t)
	m := loadManifests(t)
	d, bot := m.theDeployment(t)
	env := plainEnv(t, bot)

	// The policy: BACKUPBOT_POLICY's directory is the ConfigMap's mount.
	policy := effective(t, prog, env, "BACKUPBOT_POLICY")
	if !path.IsAbs(policy) {
		t.Errorf("BACKUPBOT_POLICY %q: want an absolute path in the ConfigMap's mount", policy)
	}
	vm, v := mountOf(t, d, bot, path.Dir(policy))
	switch {
	case vm == nil:
		t.Errorf("BACKUPBOT_POLICY is %s but nothing is mounted at %s: mount the ConfigMap %s there", policy, path.Dir(policy), configMapName)
	case v.ConfigMap == nil || v.ConfigMap.Name != configMapName:
		t.Errorf("%s (BACKUPBOT_POLICY's directory): volume %s is not the ConfigMap %s", vm.MountPath, v.Name, configMapName)
	default:
		if !vm.ReadOnly {
			t.Errorf("%s: mount the policy readOnly", vm.MountPath)
		}
		if vm.SubPath != "" {
			t.Errorf("%s: no subPath: a subPath mount never sees the ConfigMap's updates", vm.MountPath)
		}
		file := path.Base(policy)
		key := file
		for _, it := range v.ConfigMap.Items {
			if it.Path == file {
				key = it.Key
			}
		}
		if cm := m.configMap(configMapName); cm != nil {
			if _, ok := cm.Data[key]; !ok {
				t.Errorf("BACKUPBOT_POLICY is %s, but ConfigMap %s has no key %q", policy, configMapName, key)
			}
		}
	}

	// The database: a SQLite file's directory is the PVC's mount.
	dbURL := effective(t, prog, env, "BACKUPBOT_DATABASE_URL")
	if file, ok := strings.CutPrefix(dbURL, "sqlite:"); ok {
		file, _, _ = strings.Cut(file, "?")
		if !path.IsAbs(file) {
			t.Errorf("BACKUPBOT_DATABASE_URL %q: want an absolute path on the PVC (the root filesystem is read-only)", dbURL)
		}
		vm, v := mountOf(t, d, bot, path.Dir(file))
		switch {
		case vm == nil:
			t.Errorf("BACKUPBOT_DATABASE_URL is %s but nothing is mounted at %s: mount the PVC %s there", dbURL, path.Dir(file), pvcName)
		case v.PersistentVolumeClaim == nil || v.PersistentVolumeClaim.ClaimName != pvcName:
			t.Errorf("%s (the database's directory): volume %s is not the PVC %s", vm.MountPath, v.Name, pvcName)
		case vm.ReadOnly || v.PersistentVolumeClaim.ReadOnly:
			t.Errorf("%s: the database's volume must be writable", vm.MountPath)
		case vm.SubPath != "":
			t.Errorf("%s: mount the database's volume without subPath", vm.MountPath)
		}
		if m.pvc(pvcName) == nil {
			t.Errorf("no PersistentVolumeClaim %s for the database", pvcName)
		}
	}

	// A writable /tmp, since the root filesystem is read-only.
	if vm, v := mountOf(t, d, bot, "/tmp"); vm == nil || v.EmptyDir == nil {
		t.Error("mount an emptyDir at /tmp: the root filesystem is read-only")
	}

	// Every mount has a volume and every volume is mounted.
	volumes, mounted := map[string]bool{}, map[string]bool{}
	for _, v := range d.Spec.Template.Spec.Volumes {
		if volumes[v.Name] {
			t.Errorf("volume %s defined twice", v.Name)
		}
		volumes[v.Name] = true
	}
	for _, c := range allContainers(d) {
		for _, vm := range c.VolumeMounts {
			mounted[vm.Name] = true
			if !volumes[vm.Name] {
				t.Errorf("container %s: volumeMount %s: no volume named %q", c.Name, vm.MountPath, vm.Name)
			}
		}
	}
	for name := range volumes {
		if !mounted[name] {
			t.Errorf("volume %s is mounted by no container", name)
		}
	}
}

// TestKubernetesSQLiteSingleReplica: SQLite means one bot, replaced not
// rolled, on a ReadWriteOnce volume.
func TestKubernetesSQLiteSingleReplica(t *testing.T) {
	prog := programEnv(t)
	m := loadManifests(t)
	d, bot := m.theDeployment(t)
	if !strings.HasPrefix(effective(t, prog, plainEnv(t, bot), "BACKUPBOT_DATABASE_URL"), "sqlite:") {
		return
	}
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 1 {
		t.Error("Deployment: with SQLite set replicas: 1 (explicitly): one process holds the database")
	}
	if d.Spec.Strategy.Type != "Recreate" {
		t.Errorf("Deployment: strategy %q, want Recreate with SQLite: a rolling update runs two bots at once", d.Spec.Strategy.Type)
	}
	p := m.pvc(pvcName)
	if p == nil {
		t.Fatalf("no PersistentVolumeClaim %s", pvcName)
	}
	if !slices.Contains(p.Spec.AccessModes, "ReadWriteOnce") && !slices.Contains(p.Spec.AccessModes, "ReadWriteOncePod") {
		t.Errorf("PersistentVolumeClaim %s: accessModes %v, want ReadWriteOnce", pvcName, p.Spec.AccessModes)
	}
	if _, err := parseQuantity(p.Spec.Resources.Requests["storage"]); err != nil {
		t.Errorf("PersistentVolumeClaim %s: resources.requests.storage: %v", pvcName, err)
	}
}

// portOf resolves a probe's or Service's port, by number or by name.
func portOf(c *container, p intOrString) (int, bool) {
	if !p.set {
		return 0, false
	}
	if p.String == "" {
		return p.Int, true
	}
	for _, cp := range c.Ports {
		if cp.Name == p.String {
			return cp.ContainerPort, true
		}
	}
	return 0, false
}

// TestKubernetesPortsAndProbes checks that the probes, the Service and the
// scrape annotations reach BACKUPBOT_HTTP_ADDR's port.
func TestKubernetesPortsAndProbes(t *testing.T) {
	prog := programEnv(t)
	m := loadManifests(t)
	d, bot := m.theDeployment(t)
	addr := effective(t, prog, plainEnv(t, bot), "BACKUPBOT_HTTP_ADDR")
	port := httpPort(t, addr)

	var named *containerPort
	for i := range bot.Ports {
		if bot.Ports[i].Name == "http" {
			named = &bot.Ports[i]
		}
	}
	if named == nil {
		t.Errorf("container %s: no port named http", bot.Name)
	} else if named.ContainerPort != port {
		t.Errorf("container %s: port http is %d, but BACKUPBOT_HTTP_ADDR %q listens on %d", bot.Name, named.ContainerPort, addr, port)
	}

	for _, pr := range []struct {
		name, path string
		probe      *probe
	}{
		{"livenessProbe", "/healthz", bot.LivenessProbe},
		{"readinessProbe", "/readyz", bot.ReadinessProbe},
		{"startupProbe", "/healthz", bot.StartupProbe}, // optional
	} {
		if pr.name == "startupProbe" && pr.probe == nil {
			continue
		}
		if pr.probe == nil || pr.probe.HTTPGet == nil {
			t.Errorf("container %s: %s: want httpGet %s", bot.Name, pr.name, pr.path)
			continue
		}
		g := pr.probe.HTTPGet
		if g.Path != pr.path {
			t.Errorf("container %s: %s path %q, want %s", bot.Name, pr.name, g.Path, pr.path)
		}
		if p, ok := portOf(bot, g.Port); !ok || p != port {
			t.Errorf("container %s: %s port %s, want the port of BACKUPBOT_HTTP_ADDR (%d; by name: http)", bot.Name, pr.name, g.Port.text(), port)
		}
		if g.Scheme != "" && g.Scheme != "HTTP" {
			t.Errorf("container %s: %s scheme %s: the bot serves plain HTTP", bot.Name, pr.name, g.Scheme)
		}
	}

	tmpl := d.Spec.Template.Metadata
	for k, v := range d.Spec.Selector.MatchLabels {
		if tmpl.Labels[k] != v {
			t.Errorf("Deployment: selector %s=%s does not match the pod template's labels", k, v)
		}
	}
	if len(d.Spec.Selector.MatchLabels) == 0 {
		t.Error("Deployment: selector.matchLabels empty")
	}

	wantAnn := map[string]string{
		"prometheus.io/scrape": "true",
		"prometheus.io/port":   strconv.Itoa(port),
		"prometheus.io/path":   "/metrics",
	}
	for k, v := range wantAnn {
		if got := tmpl.Annotations[k]; got != v {
			t.Errorf("pod template: annotation %s is %q, want %q", k, got, v)
		}
	}

	for _, s := range m.services {
		if s.Spec.Type != "" && s.Spec.Type != "ClusterIP" {
			t.Errorf("Service %s: type %s, want ClusterIP (metrics stay inside the cluster)", s.Metadata.Name, s.Spec.Type)
		}
		if len(s.Spec.Selector) == 0 {
			t.Errorf("Service %s: no selector", s.Metadata.Name)
		}
		for k, v := range s.Spec.Selector {
			if tmpl.Labels[k] != v {
				t.Errorf("Service %s: selector %s=%s matches no label of the bot's pods", s.Metadata.Name, k, v)
			}
		}
		if len(s.Spec.Ports) == 0 {
			t.Errorf("Service %s: no ports", s.Metadata.Name)
		}
		for _, sp := range s.Spec.Ports {
			target := sp.TargetPort
			if !target.set {
				target = intOrString{Int: sp.Port, set: true}
			}
			if p, ok := portOf(bot, target); !ok || p != port {
				t.Errorf("Service %s: port %d targets %s, want the bot's http port %d", s.Metadata.Name, sp.Port, target.text(), port)
			}
		}
	}
}

// TestKubernetesSecurityContext checks every container's effective security
// context (the container's fields over the pod's).
func TestKubernetesSecurityContext(t *testing.T) {
	m := loadManifests(t)
	d, _ := m.theDeployment(t)
	pod := d.Spec.Template.Spec.SecurityContext
	if pod == nil {
		pod = &podSecurityContext{}
	}
	if d.Spec.Template.Spec.AutomountServiceAccountToken == nil || *d.Spec.Template.Spec.AutomountServiceAccountToken {
		t.Error("pod: automountServiceAccountToken: false (the bot never calls the Kubernetes API)")
	}
	if pod.FSGroup == nil || *pod.FSGroup != runtimeUID {
		t.Errorf("pod securityContext: fsGroup: %d, so that the bot can write its database on a fresh volume", runtimeUID)
	}
	for _, c := range allContainers(d) {
		sc := c.SecurityContext
		if sc == nil {
			sc = &securityContext{}
		}
		nonRoot, uid, seccomp := pod.RunAsNonRoot, pod.RunAsUser, pod.SeccompProfile
		if sc.RunAsNonRoot != nil {
			nonRoot = sc.RunAsNonRoot
		}
		if sc.RunAsUser != nil {
			uid = sc.RunAsUser
		}
		if sc.SeccompProfile != nil {
			seccomp = sc.SeccompProfile
		}
		if nonRoot == nil || !*nonRoot {
			t.Errorf("container %s: runAsNonRoot: true (pod or container securityContext)", c.Name)
		}
		if uid == nil || *uid != runtimeUID {
			t.Errorf("container %s: runAsUser: %d (the image's nonroot user)", c.Name, runtimeUID)
		}
		if seccomp == nil || seccomp.Type != "RuntimeDefault" {
			t.Errorf("container %s: seccompProfile.type: RuntimeDefault (pod or container securityContext)", c.Name)
		}
		if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			t.Errorf("container %s: securityContext.readOnlyRootFilesystem: true", c.Name)
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			t.Errorf("container %s: securityContext.allowPrivilegeEscalation: false", c.Name)
		}
		if sc.Privileged != nil && *sc.Privileged {
			t.Errorf("container %s: securityContext.privileged: never", c.Name)
		}
		if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
			t.Errorf("container %s: securityContext.capabilities.drop: [ALL]", c.Name)
		} else if len(sc.Capabilities.Add) > 0 {
			t.Errorf("container %s: securityContext.capabilities.add %v: the bot needs none", c.Name, sc.Capabilities.Add)
		}
	}
}

// TestKubernetesResources checks that every container requests CPU and
// memory and has a memory limit at least its request.
func TestKubernetesResources(t *testing.T) {
	m := loadManifests(t)
	d, _ := m.theDeployment(t)
	for _, c := range allContainers(d) {
		r := c.Resources
		if r == nil {
			t.Errorf("container %s: no resources: set requests cpu and memory, and limits memory", c.Name)
			continue
		}
		get := func(kind string, q map[string]string, name string) float64 {
			v, ok := q[name]
			if !ok {
				t.Errorf("container %s: resources.%s.%s missing", c.Name, kind, name)
				return 0
			}
			f, err := parseQuantity(v)
			if err != nil || f <= 0 {
				t.Errorf("container %s: resources.%s.%s %q: not a positive quantity", c.Name, kind, name, v)
			}
			return f
		}
		get("requests", r.Requests, "cpu")
		req := get("requests", r.Requests, "memory")
		lim := get("limits", r.Limits, "memory")
		if lim < req {
			t.Errorf("container %s: memory limit %s below its request %s", c.Name, r.Limits["memory"], r.Requests["memory"])
		}
		if cpu, ok := r.Limits["cpu"]; ok {
			if f, err := parseQuantity(cpu); err != nil || f < get("requests", r.Requests, "cpu") {
				t.Errorf("container %s: cpu limit %q below its request", c.Name, cpu)
			}
		}
	}
}

// TestKubernetesInitCheck checks that the pod starts with `backupbot check`,
// seeing exactly what the bot will see.
func TestKubernetesInitCheck(t *testing.T) {
	m := loadManifests(t)
	d, bot := m.theDeployment(t)
	inits := d.Spec.Template.Spec.InitContainers
	if len(inits) != 1 {
		t.Fatalf("Deployment: %d init containers, want one running `backupbot check`", len(inits))
	}
	c := &inits[0]
	argv := slices.Concat(c.Command, c.Args)
	if len(c.Command) == 0 {
		argv = slices.Concat([]string{"/backupbot"}, c.Args) // the image's ENTRYPOINT
	}
	if want := []string{"/backupbot", "check"}; !slices.Equal(argv, want) {
		t.Errorf("init container %s runs %q, want %q", c.Name, argv, want)
	}
	if c.Image != bot.Image {
		t.Errorf("init container %s: image %s, want the bot's (%s)", c.Name, c.Image, bot.Image)
	}
	if d := envDiff(c.Env, bot.Env); d != "" {
		t.Errorf("init container %s: env differs from container %s's (%s): the check must see what the bot sees; keep the two lists the same",
			c.Name, bot.Name, d)
	}
	if !reflect.DeepEqual(c.VolumeMounts, bot.VolumeMounts) {
		t.Errorf("init container %s: volumeMounts differ from container %s's: the check must read the same policy", c.Name, bot.Name)
	}
	if len(bot.Command) > 0 || len(bot.Args) > 0 {
		t.Errorf("container %s: command/args %q: the bot runs with none (the image's ENTRYPOINT, no subcommand)", bot.Name, slices.Concat(bot.Command, bot.Args))
	}
}

// envDiff describes the first difference between two env lists, or is "".
func envDiff(a, b []envVar) string {
	show := func(e envVar) string {
		switch {
		case e.Value != nil:
			return fmt.Sprintf("%s=%q", e.Name, *e.Value)
		case e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil:
			return fmt.Sprintf("%s from secret %s/%s", e.Name, e.ValueFrom.SecretKeyRef.Name, e.ValueFrom.SecretKeyRef.Key)
		case e.ValueFrom != nil && e.ValueFrom.ConfigMapKeyRef != nil:
			return fmt.Sprintf("%s from configMap %s/%s", e.Name, e.ValueFrom.ConfigMapKeyRef.Name, e.ValueFrom.ConfigMapKeyRef.Key)
		}
		return e.Name
	}
	for i := 0; i < len(a) || i < len(b); i++ {
		switch {
		case i >= len(a):
			return fmt.Sprintf("only the second has %s", show(b[i]))
		case i >= len(b):
			return fmt.Sprintf("only the first has %s", show(a[i]))
		case !reflect.DeepEqual(a[i], b[i]):
			return fmt.Sprintf("entry %d: %s vs %s", i+1, show(a[i]), show(b[i]))
		}
	}
	return ""
}

// TestKubernetesGracePeriod checks that Kubernetes waits longer than the
// bot's own shutdown bound before it kills it.
func TestKubernetesGracePeriod(t *testing.T) {
	prog := programEnv(t)
	m := loadManifests(t)
	d, bot := m.theDeployment(t)
	timeout := shutdownTimeout(t, effective(t, prog, plainEnv(t, bot), "BACKUPBOT_SHUTDOWN_TIMEOUT"))
	g := d.Spec.Template.Spec.TerminationGracePeriodSeconds
	if g == nil {
		t.Fatalf("pod: set terminationGracePeriodSeconds, longer than BACKUPBOT_SHUTDOWN_TIMEOUT (%s)", timeout)
	}
	if float64(*g) <= timeout.Seconds() {
		t.Errorf("pod: terminationGracePeriodSeconds %d must be more than BACKUPBOT_SHUTDOWN_TIMEOUT (%s), or Kubernetes kills the bot mid-shutdown", *g, timeout)
	}
}

// parseQuantity reads a Kubernetes quantity (50m, 64Mi, 1Gi, 2) as a number.
func parseQuantity(s string) (float64, error) {
	suffixes := []struct {
		s string
		f float64
	}{
		{"Ki", 1 << 10}, {"Mi", 1 << 20}, {"Gi", 1 << 30}, {"Ti", 1 << 40},
		{"k", 1e3}, {"M", 1e6}, {"G", 1e9}, {"T", 1e12}, {"m", 1e-3},
	}
	num, mult := s, 1.0
	for _, suf := range suffixes {
		if n, ok := strings.CutSuffix(s, suf.s); ok {
			num, mult = n, suf.f
			break
		}
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || num == "" {
		return 0, fmt.Errorf("%q is not a quantity (like 50m, 64Mi, 1Gi)", s)
	}
	return f * mult, nil
}
