package main

// The checks of deploy/ that no tool makes: that the chart, its rendered
// manifests, the Dockerfile, the Slack app manifest, the alerts and the
// dashboard agree with the program. Helm (lint, template, the values
// schema) and promtool check the files themselves, in .ci/run.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.yaml.in/yaml/v3"
)

const (
	deployDir  = "../../deploy/"
	chartDir   = deployDir + "helm/backupbot/"
	rendered   = deployDir + "kubernetes/backupbot.yaml" // the chart rendered with deploy/kubernetes/values.yaml
	dockerfile = deployDir + "Dockerfile"
)

// yamlDocs decodes every document of a YAML file.
func yamlDocs(t *testing.T, path string) []map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var docs []map[string]any
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc map[string]any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if doc != nil {
			docs = append(docs, doc)
		}
	}
}

// dig follows keys (and list indexes) into decoded YAML or JSON.
func dig(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			l, _ := v.([]any)
			if k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func str(v any) string { s, _ := v.(string); return s }

func list(v any) []any { l, _ := v.([]any); return l }

// manifests are the rendered chart's objects, by kind and name.
type manifests map[string]map[string]any

func loadRendered(t *testing.T) manifests {
	t.Helper()
	m := manifests{}
	for _, doc := range yamlDocs(t, rendered) {
		m[str(doc["kind"])+"/"+str(dig(doc, "metadata", "name"))] = doc
	}
	return m
}

func (m manifests) get(t *testing.T, kindName string) map[string]any {
	t.Helper()
	o, ok := m[kindName]
	if !ok {
		t.Fatalf("%s: no %s", rendered, kindName)
	}
	return o
}

// containerEnv is what a container of the rendered Deployment sets: the
// values of env and of the ConfigMaps in envFrom, and the Secret keys it
// reads (with the value "secret:KEY"), from the environment or (NAME_FILE)
// from a file of a mounted Secret.
func (m manifests) containerEnv(t *testing.T, c any) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, from := range list(dig(c, "envFrom")) {
		cm := m.get(t, "ConfigMap/"+str(dig(from, "configMapRef", "name")))
		for k, v := range dig(cm, "data").(map[string]any) {
			env[k] = str(v)
		}
	}
	secretFiles := m.secretFiles(t, c)
	for _, e := range list(dig(c, "env")) {
		name, value := str(dig(e, "name")), str(dig(e, "value"))
		if key := str(dig(e, "valueFrom", "secretKeyRef", "key")); key != "" {
			env[name] = "secret:" + key
			continue
		}
		if key, ok := secretFiles[value]; ok && strings.HasSuffix(name, "_FILE") {
			env[name] = "secret:" + key
			continue
		}
		env[name] = value
	}
	return env
}

// secretFiles maps the path of each file a container has from a Secret
// volume to the Secret's key.
func (m manifests) secretFiles(t *testing.T, c any) map[string]string {
	t.Helper()
	volumes := map[string]any{}
	for _, v := range list(dig(m.get(t, "Deployment/backupbot"), "spec", "template", "spec", "volumes")) {
		volumes[str(dig(v, "name"))] = v
	}
	files := map[string]string{}
	for _, mount := range list(dig(c, "volumeMounts")) {
		v := volumes[str(dig(mount, "name"))]
		if dig(v, "secret") == nil {
			continue
		}
		for _, item := range list(dig(v, "secret", "items")) {
			files[str(dig(mount, "mountPath"))+"/"+str(dig(item, "path"))] = str(dig(item, "key"))
		}
	}
	return files
}

func (m manifests) containers(t *testing.T) []any {
	t.Helper()
	pod := dig(m.get(t, "Deployment/backupbot"), "spec", "template", "spec")
	cs := append(list(dig(pod, "initContainers")), list(dig(pod, "containers"))...)
	if len(cs) != 2 {
		t.Fatalf("%s: want the bot and its check, got %d containers", rendered, len(cs))
	}
	return cs
}

// finalStage is the last stage of the Dockerfile: its ENV (NAME=value
// form), USER and EXPOSE instructions.
func finalStage(t *testing.T) (env map[string]string, user string, expose []string) {
	t.Helper()
	f, err := os.Open(dockerfile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		word, rest, _ := strings.Cut(strings.TrimSpace(sc.Text()), " ")
		switch strings.ToUpper(word) {
		case "FROM":
			env, user, expose = map[string]string{}, "", nil
		case "ENV":
			name, value, ok := strings.Cut(rest, "=")
			if !ok || strings.ContainsAny(value, " \\") {
				t.Fatalf("%s: ENV %s: write one NAME=value per ENV line (this test reads them)", dockerfile, rest)
			}
			env[name] = value
		case "USER":
			user = rest
		case "EXPOSE":
			expose = append(expose, strings.Fields(rest)...)
		}
	}
	return env, user, expose
}

func TestDeployEnvIsRead(t *testing.T) {
	known := configVars()
	check := func(where, name string) {
		if !slices.Contains(known, name) {
			t.Errorf("%s sets %s, which the program does not read (config.go): a typo?", where, name)
		}
	}
	m := loadRendered(t)
	for _, c := range m.containers(t) {
		for name := range m.containerEnv(t, c) {
			check(rendered+" container "+str(dig(c, "name")), name)
		}
	}
	env, _, _ := finalStage(t)
	for name := range env {
		check(dockerfile, name)
	}
	// The values schema names what values.env and secret.data may hold.
	data, err := os.ReadFile(chartDir + "values.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	var schema map[string]any
	if err := json.Unmarshal(data, &schema); err != nil {
		t.Fatal(err)
	}
	settable := []string{"COMMVAULT_CA_FILE"} // from commvault.caConfigMap
	for _, path := range [][]any{{"properties", "env"}, {"properties", "secret", "properties", "data"}} {
		for _, name := range list(dig(schema, append(path, "propertyNames", "enum")...)) {
			check("values.schema.json", str(name))
			settable = append(settable, str(name))
		}
	}
	for _, name := range list(dig(schema, "properties", "secret", "properties", "data", "propertyNames", "enum")) {
		settable = append(settable, str(name)+"_FILE") // the chart mounts each key and names its file
	}
	for name := range m.containerEnv(t, m.containers(t)[1]) {
		settable = append(settable, name)
	}
	for _, name := range known {
		if !slices.Contains(settable, name) {
			t.Errorf("the chart cannot set %s: add it to env's propertyNames in values.schema.json (or to secret.data's)", name)
		}
	}
}

// The program accepts the configuration the chart gives both containers:
// every required variable is set and every value reads.
func TestDeployConfigLoads(t *testing.T) {
	m := loadRendered(t)
	for _, c := range m.containers(t) {
		t.Run(str(dig(c, "name")), func(t *testing.T) {
			clearEnv(t)
			for name, value := range m.containerEnv(t, c) {
				if key, ok := strings.CutPrefix(value, "secret:"); ok {
					value = map[string]string{"SLACK_APP_TOKEN": "xapp-1", "SLACK_BOT_TOKEN": "xoxb-1"}[key] + "from-the-secret"
					if strings.HasSuffix(name, "_FILE") { // the mounted file, as the kubelet writes it
						value = secretFile(t, value)
					}
				}
				t.Setenv(name, value)
			}
			if _, err := botConfig(false); err != nil {
				t.Errorf("the program refuses the configuration of %s: %v", rendered, err)
			}
		})
	}
}

// The secrets reach the pod as files of the mounted Secret, through the
// *_FILE variables, never as environment variables (which
// /proc/PID/environ, crash reports and `kubectl describe` show).
func TestDeploySecretsAreFiles(t *testing.T) {
	// Whatever the chart's values, each key the Secret may hold is read
	// from its file.
	data, err := os.ReadFile(chartDir + "values.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	var schema map[string]any
	if err := json.Unmarshal(data, &schema); err != nil {
		t.Fatal(err)
	}
	for _, key := range list(dig(schema, "properties", "secret", "properties", "data", "propertyNames", "enum")) {
		if !slices.Contains(configVars(), str(key)+"_FILE") {
			t.Errorf("the Secret may hold %s, which the chart mounts as a file, but the program reads no %s_FILE", key, key)
		}
	}
	m := loadRendered(t)
	for _, c := range m.containers(t) {
		env := m.containerEnv(t, c)
		var fromFiles []string
		for name, value := range env {
			key, secret := strings.CutPrefix(value, "secret:")
			switch {
			case secret && !strings.HasSuffix(name, "_FILE"):
				t.Errorf("container %s: %s comes from the Secret as an environment variable; mount it and set %s_FILE",
					str(dig(c, "name")), name, name)
			case secret && name != key+"_FILE":
				t.Errorf("container %s: %s names the file of key %s", str(dig(c, "name")), name, key)
			case secret:
				fromFiles = append(fromFiles, key)
			}
		}
		slices.Sort(fromFiles)
		want := []string{"COMMVAULT_ACCESS_TOKEN", "COMMVAULT_REFRESH_TOKEN", "SLACK_APP_TOKEN", "SLACK_BOT_TOKEN"}
		if !slices.Equal(fromFiles, want) {
			t.Errorf("container %s reads %v from the Secret's files, want %v", str(dig(c, "name")), fromFiles, want)
		}
	}
}

// The NetworkPolicy lets only the monitoring namespace reach the bot's
// pods, on the port of /metrics and nothing else.
func TestDeployNetworkPolicy(t *testing.T) {
	m := loadRendered(t)
	np := m.get(t, "NetworkPolicy/backupbot")
	podLabels := dig(m.get(t, "Deployment/backupbot"), "spec", "template", "metadata", "labels").(map[string]any)
	for k, v := range dig(np, "spec", "podSelector", "matchLabels").(map[string]any) {
		if podLabels[k] != v {
			t.Errorf("the NetworkPolicy selects %s=%v, which the pods do not carry", k, v)
		}
	}
	if types := list(dig(np, "spec", "policyTypes")); len(types) != 1 || types[0] != "Ingress" {
		t.Errorf("policyTypes = %v, want [Ingress]", types)
	}
	rules := list(dig(np, "spec", "ingress"))
	if len(rules) != 1 {
		t.Fatalf("ingress rules = %v, want one", rules)
	}
	port := httpAddrPort(t, m.containerEnv(t, m.containers(t)[1])["BACKUPBOT_HTTP_ADDR"])
	if ports := list(dig(rules[0], "ports")); len(ports) != 1 || asInt(dig(ports[0], "port")) != port {
		t.Errorf("ports = %v, want only %d", ports, port)
	}
	from := list(dig(rules[0], "from"))
	if len(from) != 1 || str(dig(from[0], "namespaceSelector", "matchLabels", "kubernetes.io/metadata.name")) != "monitoring" {
		t.Errorf("from = %v, want the monitoring namespace only", from)
	}
}

// Every base image of the Dockerfile is pinned by digest.
func TestDockerfileBaseImagesPinned(t *testing.T) {
	data, err := os.ReadFile(dockerfile)
	if err != nil {
		t.Fatal(err)
	}
	pinned := regexp.MustCompile(`^[a-z0-9./-]+(:[\w.-]+)?@sha256:[0-9a-f]{64}$`)
	froms := 0
	for line := range strings.SplitSeq(string(data), "\n") {
		words := strings.Fields(line)
		if len(words) < 2 || !strings.EqualFold(words[0], "FROM") {
			continue
		}
		froms++
		image := words[1]
		for _, w := range words[1:] { // past --platform=…
			if !strings.HasPrefix(w, "--") {
				image = w
				break
			}
		}
		if !pinned.MatchString(image) {
			t.Errorf("%s: FROM %s is not pinned by digest (image:tag@sha256:…)", dockerfile, image)
		}
	}
	if froms < 2 {
		t.Fatalf("%s: %d FROM lines, want the build and the runtime stages", dockerfile, froms)
	}
}

func TestDeployImageUserIsRunAsUser(t *testing.T) {
	_, user, _ := finalStage(t)
	uid, _, _ := strings.Cut(user, ":")
	pod := dig(loadRendered(t).get(t, "Deployment/backupbot"), "spec", "template", "spec")
	if got := dig(pod, "securityContext", "runAsUser"); uid == "" || strconv.Itoa(asInt(got)) != uid {
		t.Errorf("%s: USER %q, but the pod's runAsUser is %v: make them the same (numeric, for runAsNonRoot)", dockerfile, user, got)
	}
}

func asInt(v any) int { n, _ := v.(int); return n }

// The probes, the Service and the image all use BACKUPBOT_HTTP_ADDR's port.
func TestDeployHTTPPort(t *testing.T) {
	m := loadRendered(t)
	bot := m.containers(t)[1]
	port := httpAddrPort(t, m.containerEnv(t, bot)["BACKUPBOT_HTTP_ADDR"])
	named := map[string]int{}
	for _, p := range list(dig(bot, "ports")) {
		named[str(dig(p, "name"))] = asInt(dig(p, "containerPort"))
	}
	resolve := func(p any) int {
		if n, ok := p.(int); ok {
			return n
		}
		return named[str(p)]
	}
	for _, probe := range []string{"startupProbe", "livenessProbe", "readinessProbe"} {
		if got := resolve(dig(bot, probe, "httpGet", "port")); got != port {
			t.Errorf("%s: %s on port %d, but BACKUPBOT_HTTP_ADDR listens on %d", rendered, probe, got, port)
		}
	}
	if got := resolve(dig(m.get(t, "Service/backupbot"), "spec", "ports", 0, "targetPort")); got != port {
		t.Errorf("%s: the Service targets port %d, not BACKUPBOT_HTTP_ADDR's %d", rendered, got, port)
	}
	env, _, expose := finalStage(t)
	if addr, ok := env["BACKUPBOT_HTTP_ADDR"]; ok {
		port = httpAddrPort(t, addr)
	} else {
		port = httpAddrPort(t, configDefault(t, "BACKUPBOT_HTTP_ADDR"))
	}
	if !slices.Contains(expose, strconv.Itoa(port)) && !slices.Contains(expose, strconv.Itoa(port)+"/tcp") {
		t.Errorf("%s: EXPOSE %v, but the image listens on %d", dockerfile, expose, port)
	}
}

func httpAddrPort(t *testing.T, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	n, _ := strconv.Atoi(p)
	if err != nil || n == 0 {
		t.Fatalf("BACKUPBOT_HTTP_ADDR %q: want a fixed port, like :8080", addr)
	}
	return n
}

// configDefault is the default:"…" tag of the variable name.
func configDefault(t *testing.T, name string) string {
	t.Helper()
	ct := reflect.TypeFor[config]()
	for i := range ct.NumField() {
		if ct.Field(i).Tag.Get("envconfig") == name {
			return ct.Field(i).Tag.Get("default")
		}
	}
	t.Fatalf("config reads no %s", name)
	return ""
}

func TestDeployShutdownWithinGracePeriod(t *testing.T) {
	m := loadRendered(t)
	d, err := time.ParseDuration(m.containerEnv(t, m.containers(t)[1])["BACKUPBOT_SHUTDOWN_TIMEOUT"])
	if err != nil {
		t.Fatal(err)
	}
	grace := time.Duration(asInt(dig(m.get(t, "Deployment/backupbot"), "spec", "template", "spec", "terminationGracePeriodSeconds"))) * time.Second
	if d+5*time.Second > grace {
		t.Errorf("BACKUPBOT_SHUTDOWN_TIMEOUT %v leaves less than 5s of terminationGracePeriodSeconds (%v) to close the connections", d, grace)
	}
}

// The chart's default policy is deploy/policy.yaml, the one built into the
// binary.
func TestDeployDefaultPolicy(t *testing.T) {
	want, err := os.ReadFile(deployDir + "policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(chartDir + "files/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%sfiles/policy.yaml differs from deploy/policy.yaml: copy it (cp deploy/policy.yaml %sfiles/)", chartDir, chartDir)
	}
	cm := loadRendered(t).get(t, "ConfigMap/backupbot-policy")
	if str(dig(cm, "data", "policy.yaml")) != string(want) {
		t.Errorf("%s: the policy ConfigMap is not deploy/policy.yaml", rendered)
	}
}

func TestSlackAppManifest(t *testing.T) {
	const path = deployDir + "slack-app-manifest.yaml"
	docs := yamlDocs(t, path)
	if len(docs) != 1 {
		t.Fatalf("%s: %d documents, want 1", path, len(docs))
	}
	m := docs[0]
	cmds := list(dig(m, "features", "slash_commands"))
	if want := configDefault(t, "BACKUPBOT_COMMAND"); len(cmds) != 1 || str(dig(cmds[0], "command")) != want {
		t.Errorf("%s: slash_commands %v, want one: %s, BACKUPBOT_COMMAND's default", path, cmds, want)
	}
	var scopes []string
	for _, s := range list(dig(m, "oauth_config", "scopes", "bot")) {
		scopes = append(scopes, str(s))
	}
	slices.Sort(scopes)
	want := slices.Sorted(slices.Values(botScopes()))
	if !slices.Equal(scopes, want) {
		t.Errorf("%s: bot scopes %v, but the bot needs exactly %v (botScopes in check_slack.go): change both on purpose", path, scopes, want)
	}
	for _, tt := range []struct {
		path []any
		want any
	}{
		{[]any{"settings", "socket_mode_enabled"}, true},
		{[]any{"settings", "interactivity", "is_enabled"}, true},
		{[]any{"settings", "interactivity", "request_url"}, nil},
		{[]any{"settings", "token_rotation_enabled"}, false},
		{[]any{"settings", "event_subscriptions"}, nil},
		{[]any{"features", "slash_commands", 0, "url"}, nil},
	} {
		if got := dig(m, tt.path...); got != tt.want {
			t.Errorf("%s: %v = %v, want %v (socket mode: nothing reaches the bot from outside)", path, tt.path, got, tt.want)
		}
	}
}

// metricRecorder registers collectors on a registry and notes the names of
// the metrics they describe, histograms apart.
type metricRecorder struct {
	*prometheus.Registry
	names, histograms map[string]bool
}

var fqName = regexp.MustCompile(`fqName: "([^"]+)"`)

func (r *metricRecorder) Register(c prometheus.Collector) error {
	ch := make(chan *prometheus.Desc)
	go func() { c.Describe(ch); close(ch) }()
	for d := range ch {
		if m := fqName.FindStringSubmatch(d.String()); m != nil {
			r.names[m[1]] = true
			switch c.(type) {
			case prometheus.Histogram, *prometheus.HistogramVec:
				r.histograms[m[1]] = true
			}
		}
	}
	return r.Registry.Register(c)
}

func (r *metricRecorder) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

// exported reports whether the program exports the series name: a metric,
// or a histogram's _bucket, _sum or _count.
func (r *metricRecorder) exported(name string) bool {
	if r.names[name] && !r.histograms[name] {
		return true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok && r.histograms[base] {
			return true
		}
	}
	return false
}

var metricName = regexp.MustCompile(`\b(?:backupbot|go|process)_[a-zA-Z0-9_]+`)

// Every metric the alerts and the dashboard name is one the bot exports.
func TestMonitoringNamesExportedMetrics(t *testing.T) {
	r := &metricRecorder{Registry: prometheus.NewRegistry(), names: map[string]bool{}, histograms: map[string]bool{}}
	registerMetrics(r)
	if len(r.names) < 20 {
		t.Fatalf("registerMetrics described %d metrics; is the recorder broken?", len(r.names))
	}
	var exprs []string
	for _, rule := range list(dig(yamlDocs(t, chartDir+"files/alerts.yaml")[0], "groups", 0, "rules")) {
		exprs = append(exprs, str(dig(rule, "expr")))
	}
	data, err := os.ReadFile(chartDir + "files/dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash map[string]any
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatalf("dashboard.json: %v", err)
	}
	for _, p := range list(dash["panels"]) {
		for _, target := range list(dig(p, "targets")) {
			exprs = append(exprs, str(dig(target, "expr")))
		}
	}
	exprs = append(exprs, str(dig(dash, "templating", "list", 1, "definition")))
	if len(exprs) < 20 {
		t.Fatalf("found %d expressions in the alerts and the dashboard", len(exprs))
	}
	for _, e := range exprs {
		names := metricName.FindAllString(e, -1)
		if len(names) == 0 {
			t.Errorf("%q names no backupbot metric", e)
		}
		for _, name := range names {
			if !r.exported(name) {
				t.Errorf("%q: the bot exports no %s (registerMetrics)", e, name)
			}
		}
	}
}

// Each alert links to its runbook, a section of the README.
func TestAlertRunbooks(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, rule := range list(dig(yamlDocs(t, chartDir+"files/alerts.yaml")[0], "groups", 0, "rules")) {
		name := str(dig(rule, "alert"))
		url := str(dig(rule, "annotations", "runbook_url"))
		if !strings.HasSuffix(url, "/README.md#"+strings.ToLower(name)) {
			t.Errorf("alert %s: runbook_url %q, want …/README.md#%s", name, url, strings.ToLower(name))
		}
		if !bytes.Contains(readme, []byte("\n#### "+name+"\n")) {
			t.Errorf("README.md has no runbook section \"#### %s\"", name)
		}
		if !bytes.Contains(readme, []byte("(#"+strings.ToLower(name)+")")) {
			t.Errorf("README.md's alerts table does not link to #%s", strings.ToLower(name))
		}
		for _, a := range []string{"summary", "description"} {
			if str(dig(rule, "annotations", a)) == "" {
				t.Errorf("alert %s: no %s", name, a)
			}
		}
	}
}

// The README's configuration table lists every variable the program reads,
// and `backupbot --help` describes each (its desc tag).
func TestEveryVariableDocumented(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, _ := strings.Cut(string(readme), "\n## Configuration\n")
	table, _, _ = strings.Cut(table, "\n## ")
	ct := reflect.TypeFor[config]()
	for i := range ct.NumField() {
		f := ct.Field(i)
		name := f.Tag.Get("envconfig")
		if name == "" {
			continue
		}
		if !strings.Contains(table, "`"+name+"`") {
			t.Errorf("README.md's configuration table does not list %s", name)
		}
		if f.Tag.Get("desc") == "" {
			t.Errorf("config.%s (%s) has no desc tag: backupbot --help would not say what it is", f.Name, name)
		}
	}
}
