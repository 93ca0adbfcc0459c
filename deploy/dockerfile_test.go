package deploy

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const (
	dockerfile   = "Dockerfile"
	dockerignore = "../.dockerignore"
	repoRoot     = ".." // the build context
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	line int    // where it starts
	cmd  string // upper case: FROM, RUN, …
	args string // the rest, as written
}

// stage is a FROM and the instructions up to the next FROM.
type stage struct {
	image, name string
	line        int
	body        []instruction
}

// parseDockerfile splits a Dockerfile into instructions the way Docker
// does: comment lines (also parser directives) dropped, even within an
// instruction continued with a trailing backslash.
func parseDockerfile(t *testing.T, data string) []instruction {
	t.Helper()
	var out []instruction
	var cur *instruction
	for i, raw := range strings.Split(data, "\n") {
		line := strings.TrimRight(raw, " \t\r")
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") || (trimmed == "" && cur == nil) {
			continue
		}
		cont := strings.HasSuffix(line, `\`)
		line = strings.TrimSuffix(line, `\`)
		if cur == nil {
			cmd, args, _ := strings.Cut(strings.TrimSpace(line), " ")
			cur = &instruction{line: i + 1, cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)}
		} else {
			cur.args += " " + strings.TrimSpace(line)
		}
		if strings.Contains(cur.args, "<<") && (cur.cmd == "RUN" || cur.cmd == "COPY") {
			t.Fatalf("%s:%d: a heredoc: the test does not parse those; write the %s without", dockerfile, cur.line, cur.cmd)
		}
		if !cont {
			cur.args = strings.TrimSpace(cur.args)
			out = append(out, *cur)
			cur = nil
		}
	}
	if cur != nil {
		t.Fatalf("%s:%d: the last instruction ends with a backslash", dockerfile, cur.line)
	}
	return out
}

var knownInstructions = []string{"FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT",
	"VOLUME", "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL"}

// readDockerfile returns the Dockerfile's stages.
func readDockerfile(t *testing.T) []stage {
	t.Helper()
	data, err := os.ReadFile(dockerfile)
	if err != nil {
		t.Fatal(err)
	}
	var stages []stage
	for _, in := range parseDockerfile(t, string(data)) {
		if !slices.Contains(knownInstructions, in.cmd) {
			t.Fatalf("%s:%d: %q is not a Dockerfile instruction (a typo?)", dockerfile, in.line, in.cmd)
		}
		if in.cmd != "FROM" {
			if len(stages) == 0 {
				if in.cmd != "ARG" {
					t.Fatalf("%s:%d: %s before the first FROM (only ARG may come before it)", dockerfile, in.line, in.cmd)
				}
				continue
			}
			stages[len(stages)-1].body = append(stages[len(stages)-1].body, in)
			continue
		}
		var words []string
		for _, w := range strings.Fields(in.args) {
			if !strings.HasPrefix(w, "--") { // --platform=…
				words = append(words, w)
			}
		}
		s := stage{line: in.line}
		switch {
		case len(words) == 1:
			s.image = words[0]
		case len(words) == 3 && strings.EqualFold(words[1], "AS"):
			s.image, s.name = words[0], words[2]
		default:
			t.Fatalf("%s:%d: FROM %s: want FROM image [AS name]", dockerfile, in.line, in.args)
		}
		stages = append(stages, s)
	}
	if len(stages) < 2 {
		t.Fatalf("%s: %d FROM stages, want a build stage and a runtime stage", dockerfile, len(stages))
	}
	return stages
}

// shellWords splits like a shell (quotes, backslash escapes), for ENV.
func shellWords(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	var quote rune
	esc := false
	for _, r := range s {
		switch {
		case esc:
			cur.WriteRune(r)
			esc = false
		case r == '\\' && quote != '\'':
			esc, inWord = true, true
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '"' || r == '\'':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 || esc {
		return nil, fmt.Errorf("unterminated quote or escape in %q", s)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// envOf returns what the ENV instructions of a stage set.
func envOf(t *testing.T, s stage) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, in := range s.body {
		if in.cmd != "ENV" {
			continue
		}
		words, err := shellWords(in.args)
		if err != nil || len(words) == 0 {
			t.Fatalf("%s:%d: ENV %s: cannot read it (%v)", dockerfile, in.line, in.args, err)
		}
		if !strings.Contains(words[0], "=") { // ENV NAME value
			env[words[0]] = strings.TrimSpace(strings.TrimPrefix(in.args, words[0]))
			continue
		}
		for _, w := range words {
			k, v, ok := strings.Cut(w, "=")
			if !ok || k == "" {
				t.Fatalf("%s:%d: ENV %s: %q is not NAME=value", dockerfile, in.line, in.args, w)
			}
			env[k] = v
		}
	}
	return env
}

// jsonForm reads an exec-form argument list (["/backupbot", "check"]).
func jsonForm(args string) ([]string, bool) {
	var list []string
	if !strings.HasPrefix(strings.TrimSpace(args), "[") || json.Unmarshal([]byte(args), &list) != nil {
		return nil, false
	}
	return list, true
}

func lastOf(s stage, cmd string) *instruction {
	for i := len(s.body) - 1; i >= 0; i-- {
		if s.body[i].cmd == cmd {
			return &s.body[i]
		}
	}
	return nil
}

// distrolessStaticNonroot: distroless static (no shell, no libc) as nonroot,
// optionally pinned by digest; not the :debug variants, which have a shell.
var distrolessStaticNonroot = regexp.MustCompile(`^gcr\.io/distroless/static(-debian\d+)?:nonroot(@sha256:[0-9a-f]{64})?$`)

func TestDockerfileRuntimeStage(t *testing.T) {
	prog := programEnv(t)
	stages := readDockerfile(t)
	final := stages[len(stages)-1]
	if !distrolessStaticNonroot.MatchString(final.image) {
		t.Errorf("%s:%d: the final stage is FROM %s, want gcr.io/distroless/static-debian12:nonroot (static binary, no shell, non-root)",
			dockerfile, final.line, final.image)
	}
	for _, in := range final.body {
		if in.cmd == "RUN" || in.cmd == "SHELL" || in.cmd == "HEALTHCHECK" {
			t.Errorf("%s:%d: %s in the final stage: distroless has no shell; do it in the build stage", dockerfile, in.line, in.cmd)
		}
		if (in.cmd == "CMD") && !strings.HasPrefix(in.args, "[") {
			t.Errorf("%s:%d: CMD in shell form: there is no shell; use the JSON form", dockerfile, in.line)
		}
	}

	// USER: not root.
	if u := lastOf(final, "USER"); u == nil {
		t.Errorf("%s: no USER in the final stage: set USER 65532:65532 (nonroot)", dockerfile)
	} else {
		user, _, _ := strings.Cut(u.args, ":")
		if user == "" || user == "root" || user == "0" {
			t.Errorf("%s:%d: USER %s: run as a non-root user (65532, nonroot)", dockerfile, u.line, u.args)
		}
	}

	// ENTRYPOINT ["/backupbot"], the binary copied from the build.
	ep := lastOf(final, "ENTRYPOINT")
	if ep == nil {
		t.Fatalf("%s: no ENTRYPOINT in the final stage: want ENTRYPOINT [\"/backupbot\"]", dockerfile)
	}
	argv, ok := jsonForm(ep.args)
	if !ok || len(argv) == 0 {
		t.Fatalf("%s:%d: ENTRYPOINT %s: use the exec (JSON) form, ENTRYPOINT [\"/backupbot\"]: there is no shell, and signals must reach the bot", dockerfile, ep.line, ep.args)
	}
	if argv[0] != "/backupbot" {
		t.Errorf("%s:%d: ENTRYPOINT runs %s, want /backupbot (the Kubernetes init container runs /backupbot check)", dockerfile, ep.line, argv[0])
	}
	copied := false
	for _, in := range final.body {
		if in.cmd != "COPY" || !strings.Contains(in.args, "--from=") {
			continue
		}
		words := strings.Fields(in.args)
		if words[len(words)-1] == argv[0] {
			copied = true
		}
	}
	if !copied {
		t.Errorf("%s: the final stage does not COPY --from=build the binary to %s", dockerfile, argv[0])
	}

	// EXPOSE the port of BACKUPBOT_HTTP_ADDR.
	env := envOf(t, final)
	port := httpPort(t, effective(t, prog, env, "BACKUPBOT_HTTP_ADDR"))
	exposed := false
	for _, in := range final.body {
		if in.cmd != "EXPOSE" {
			continue
		}
		for _, p := range strings.Fields(in.args) {
			p = strings.TrimSuffix(p, "/tcp")
			if p == strconv.Itoa(port) {
				exposed = true
			}
		}
	}
	if !exposed {
		t.Errorf("%s: EXPOSE %d (BACKUPBOT_HTTP_ADDR's port: /healthz, /readyz, /metrics)", dockerfile, port)
	}

	// ENV: only variables the program reads.
	for name := range env {
		if _, ok := prog[name]; !ok {
			t.Errorf("%s: ENV %s is not a variable the program reads (%s): a typo?", dockerfile, name, configGo)
		}
	}

	// The SQLite database on a declared volume.
	dbURL := effective(t, prog, env, "BACKUPBOT_DATABASE_URL")
	file, ok := strings.CutPrefix(dbURL, "sqlite:")
	if !ok {
		t.Fatalf("%s: BACKUPBOT_DATABASE_URL %q: the image's default is a SQLite file on its volume", dockerfile, dbURL)
	}
	file, _, _ = strings.Cut(file, "?")
	if !path.IsAbs(file) {
		t.Errorf("%s: ENV BACKUPBOT_DATABASE_URL=%s: want an absolute path, on the VOLUME", dockerfile, dbURL)
	}
	var volumes []string
	for _, in := range final.body {
		if in.cmd != "VOLUME" {
			continue
		}
		if list, ok := jsonForm(in.args); ok {
			volumes = append(volumes, list...)
		} else {
			volumes = append(volumes, strings.Fields(in.args)...)
		}
	}
	if !slices.Contains(volumes, path.Dir(file)) {
		t.Errorf("%s: VOLUME %s missing: the database (BACKUPBOT_DATABASE_URL=%s) must not live in the container's layer", dockerfile, path.Dir(file), dbURL)
	}
}

func TestDockerfileBuildStage(t *testing.T) {
	stages := readDockerfile(t)
	final := stages[len(stages)-1]

	// The stage that builds the binary the final stage copies.
	var from string
	for _, in := range final.body {
		if in.cmd == "COPY" {
			for _, w := range strings.Fields(in.args) {
				if v, ok := strings.CutPrefix(w, "--from="); ok {
					from = v
				}
			}
		}
	}
	var build *stage
	for i := range stages[:len(stages)-1] {
		if stages[i].name == from || strconv.Itoa(i) == from {
			build = &stages[i]
		}
	}
	if build == nil {
		t.Fatalf("%s: the final stage copies nothing from an earlier stage (COPY --from=build …)", dockerfile)
	}

	// golang:<go.mod's go version>.
	goMod, err := os.ReadFile(filepath.Join(repoRoot, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(goMod)
	if m == nil {
		t.Fatal("go.mod: no go directive")
	}
	if goVersion := string(m[1]); !regexp.MustCompile(`^(docker\.io/(library/)?)?golang:` + regexp.QuoteMeta(goVersion) + `([.-]|$)`).MatchString(build.image) {
		t.Errorf("%s:%d: the build stage is FROM %s, want golang:%s (go.mod's go version; the golang images set GOTOOLCHAIN=local, so an older Go refuses to build)", dockerfile, build.line, build.image, goVersion)
	}

	// The module download as its own layer: COPY go.mod go.sum, RUN go mod
	// download, then the source.
	step := 0 // 0: want COPY go.mod go.sum; 1: want go mod download; 2: want the source
	var buildRun *instruction
	var args []string
	var early []instruction // ARG VERSION/COMMIT before the module download
	for i, in := range build.body {
		switch {
		case in.cmd == "COPY" && step == 0 && strings.Contains(in.args, "go.mod") && strings.Contains(in.args, "go.sum"):
			step = 1
		case in.cmd == "RUN" && step == 1 && strings.Contains(in.args, "go mod download"):
			step = 2
		case in.cmd == "COPY" && step == 2:
			step = 3
		case in.cmd == "ARG":
			name, _, _ := strings.Cut(in.args, "=")
			args = append(args, name)
			if step < 2 && (name == "VERSION" || name == "COMMIT") {
				early = append(early, in)
			}
		case in.cmd == "RUN" && strings.Contains(in.args, "go build"):
			buildRun = &build.body[i]
		}
	}
	if step < 3 {
		t.Errorf("%s: in the build stage, want COPY go.mod go.sum ./, RUN go mod download, then COPY . . (the modules as their own cached layer)", dockerfile)
	} else {
		for _, in := range early {
			t.Errorf("%s:%d: ARG %s before the module download: each new value would download the modules again; declare it after", dockerfile, in.line, in.args)
		}
	}
	if buildRun == nil {
		t.Fatalf("%s: no RUN … go build in the build stage", dockerfile)
	}
	words := strings.Fields(buildRun.args)
	if !slices.Contains(words, "CGO_ENABLED=0") && envOf(t, *build)["CGO_ENABLED"] != "0" {
		t.Errorf("%s:%d: build with CGO_ENABLED=0: a static binary for distroless static (SQLite is pure Go)", dockerfile, buildRun.line)
	}
	for _, want := range []string{"-trimpath", "-X main.version=${VERSION}", "-X main.commit=${COMMIT}", "./cmd/backupbot"} {
		if !strings.Contains(buildRun.args, want) {
			t.Errorf("%s:%d: go build without %s", dockerfile, buildRun.line, want)
		}
	}
	for _, want := range []string{"VERSION", "COMMIT"} {
		if !slices.Contains(args, want) {
			t.Errorf("%s: the build stage does not declare ARG %s (used by -ldflags -X)", dockerfile, want)
		}
	}

	// COPY sources from the context exist.
	for _, in := range build.body {
		if in.cmd != "COPY" || strings.Contains(in.args, "--from=") {
			continue
		}
		var srcs []string
		for _, w := range strings.Fields(in.args) {
			if !strings.HasPrefix(w, "--") {
				srcs = append(srcs, w)
			}
		}
		for _, src := range srcs[:len(srcs)-1] {
			if _, err := os.Stat(filepath.Join(repoRoot, src)); err != nil {
				t.Errorf("%s:%d: COPY %s: not in the build context (the repository root): %v", dockerfile, in.line, src, err)
			}
		}
	}
}

// TestDockerfileMatchesKubernetes: the image and the Deployment agree on
// the user and the port.
func TestDockerfileMatchesKubernetes(t *testing.T) {
	prog := programEnv(t)
	stages := readDockerfile(t)
	final := stages[len(stages)-1]
	m := loadManifests(t)
	d, bot := m.theDeployment(t)
	if u := lastOf(final, "USER"); u != nil {
		user, _, _ := strings.Cut(u.args, ":")
		uid, err := strconv.ParseInt(user, 10, 64)
		if err != nil {
			t.Errorf("%s:%d: USER %s: give it numerically (65532), so that Kubernetes' runAsNonRoot can verify it", dockerfile, u.line, u.args)
		} else if sc := d.Spec.Template.Spec.SecurityContext; sc == nil || sc.RunAsUser == nil || *sc.RunAsUser != uid {
			t.Errorf("%s: USER %d, but the Deployment's pod runAsUser differs: make them the same", dockerfile, uid)
		}
	}
	imagePort := httpPort(t, effective(t, prog, envOf(t, final), "BACKUPBOT_HTTP_ADDR"))
	podPort := httpPort(t, effective(t, prog, plainEnv(t, bot), "BACKUPBOT_HTTP_ADDR"))
	if imagePort != podPort {
		t.Errorf("the image serves on %d (EXPOSE) but the Deployment on %d", imagePort, podPort)
	}
}

// TestDockerignoreKeepsBuildInputs checks that .dockerignore leaves in the
// build context everything the build needs: go.mod, go.sum, every Go
// source file and every file it embeds (deploy/policy.yaml).
func TestDockerignoreKeepsBuildInputs(t *testing.T) {
	data, err := os.ReadFile(dockerignore)
	if os.IsNotExist(err) {
		return
	} else if err != nil {
		t.Fatal(err)
	}
	type rule struct {
		re     *regexp.Regexp
		except bool
		text   string
	}
	var rules []rule
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		r := rule{text: line}
		if p, ok := strings.CutPrefix(line, "!"); ok {
			r.except, line = true, p
		}
		if r.re, err = dockerignoreRegexp(path.Clean(strings.TrimPrefix(line, "/"))); err != nil {
			t.Fatalf(".dockerignore: pattern %q: %v", r.text, err)
		}
		rules = append(rules, r)
	}
	// excluded applies Docker's rules: the last pattern matching the path
	// or one of its parent directories decides.
	excluded := func(p string) (bool, string) {
		out, by := false, ""
		for _, r := range rules {
			for q := p; q != "."; q = path.Dir(q) {
				if r.re.MatchString(q) {
					out, by = !r.except, r.text
					break
				}
			}
		}
		return out, by
	}

	needed := []string{"go.mod", "go.sum"}
	embedRE := regexp.MustCompile(`(?m)^//go:embed (.+)$`)
	err = filepath.WalkDir(repoRoot, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(repoRoot, p)
		rel = filepath.ToSlash(rel)
		if e.IsDir() && strings.HasPrefix(e.Name(), ".") && rel != "." {
			return filepath.SkipDir
		}
		if e.IsDir() || !strings.HasSuffix(rel, ".go") || strings.HasSuffix(rel, "_test.go") {
			return nil
		}
		needed = append(needed, rel)
		src, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, m := range embedRE.FindAllSubmatch(src, -1) {
			for _, pat := range strings.Fields(string(m[1])) {
				pat = strings.TrimPrefix(strings.Trim(pat, "`\""), "all:")
				matches, err := filepath.Glob(filepath.Join(filepath.Dir(p), filepath.FromSlash(pat)))
				if err != nil || len(matches) == 0 {
					return fmt.Errorf("%s: //go:embed %s matches nothing", rel, pat)
				}
				for _, match := range matches {
					// A directory embeds the files in it.
					err := filepath.WalkDir(match, func(f string, e fs.DirEntry, err error) error {
						if err == nil && !e.IsDir() {
							r, _ := filepath.Rel(repoRoot, f)
							needed = append(needed, filepath.ToSlash(r))
						}
						return err
					})
					if err != nil {
						return err
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(needed, "deploy/policy.yaml") {
		t.Fatalf("the walk found no //go:embed of deploy/policy.yaml: is the test looking at the repository root? (needed: %v)", needed)
	}
	for _, p := range needed {
		if out, by := excluded(p); out {
			t.Errorf(".dockerignore: %q leaves %s out of the build context, which the build needs", by, p)
		}
	}
}

// dockerignoreRegexp compiles a .dockerignore pattern (Go's filepath.Match
// syntax, plus ** for any number of directories).
func dockerignoreRegexp(pat string) (*regexp.Regexp, error) {
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(pat); i++ {
		switch c := pat[i]; c {
		case '*':
			if i+1 < len(pat) && pat[i+1] == '*' {
				i++
				if i+1 < len(pat) && pat[i+1] == '/' {
					i++
					b.WriteString("(.*/)?")
				} else {
					b.WriteString(".*")
				}
			} else {
				b.WriteString("[^/]*")
			}
		case '?':
			b.WriteString("[^/]")
		case '\\':
			if i+1 < len(pat) {
				i++
				b.WriteString(regexp.QuoteMeta(string(pat[i])))
			}
		case '[':
			j := strings.IndexByte(pat[i:], ']')
			if j < 0 {
				b.WriteString(`\[`)
				continue
			}
			class := pat[i+1 : i+j]
			if strings.HasPrefix(class, "!") || strings.HasPrefix(class, "^") {
				class = "^" + class[1:]
			}
			b.WriteString("[" + class + "]")
			i += j
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString("$")
	return regexp.Compile(b.String())
}
