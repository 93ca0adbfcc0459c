package main

// The build context deploy/Dockerfile is built from is exactly what the
// build needs: .dockerignore is an allowlist, and this test reads it as
// Docker does (moby's patternmatcher: patterns in order, the last that
// matches a file or one of its folders decides, "!" lets back in).

import (
	"bufio"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const repoRoot = "../../"

// dockerPattern is one line of .dockerignore.
type dockerPattern struct {
	re      *regexp.Regexp
	include bool // "!": let back in
}

func readDockerignore(t *testing.T) []dockerPattern {
	t.Helper()
	f, err := os.Open(repoRoot + ".dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []dockerPattern
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		p := dockerPattern{}
		if rest, ok := strings.CutPrefix(line, "!"); ok {
			p.include, line = true, rest
		}
		p.re = regexp.MustCompile("^" + globRegexp(path.Clean(strings.TrimPrefix(line, "/"))) + "$")
		out = append(out, p)
	}
	return out
}

// globRegexp is a .dockerignore pattern as a regular expression: ** any
// number of folders, * and ? within one path element.
func globRegexp(p string) string {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		switch c := p[i]; {
		case strings.HasPrefix(p[i:], "**/"):
			b.WriteString("(.*/)?")
			i += 2
		case strings.HasPrefix(p[i:], "**"):
			b.WriteString(".*")
			i++
		case c == '*':
			b.WriteString("[^/]*")
		case c == '?':
			b.WriteString("[^/]")
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	return b.String()
}

// excluded reports whether Docker leaves file (slash-separated, relative
// to the context) out of the build context.
func excluded(patterns []dockerPattern, file string) bool {
	parents := []string{file}
	for dir := path.Dir(file); dir != "."; dir = path.Dir(dir) {
		parents = append(parents, dir)
	}
	out := false
	for _, p := range patterns {
		if slices.ContainsFunc(parents, p.re.MatchString) {
			out = !p.include
		}
	}
	return out
}

// buildNeeds lists what `go build ./cmd/backupbot` reads of the module:
// go.mod, go.sum, and each package's Go files (those of other platforms
// included) and embedded files, relative to the repository root.
func buildNeeds(t *testing.T) []string {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps", "-f",
		`{{if .Module}}{{if .Module.Main}}{{range .GoFiles}}{{$.Dir}}/{{.}}{{"\n"}}{{end}}`+
			`{{range .IgnoredGoFiles}}{{$.Dir}}/{{.}}{{"\n"}}{{end}}{{range .EmbedFiles}}{{$.Dir}}/{{.}}{{"\n"}}{{end}}{{end}}{{end}}`,
		"./cmd/backupbot")
	cmd.Dir = repoRoot
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	root, err := filepath.Abs(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	needs := []string{"go.mod", "go.sum"}
	for _, abs := range strings.Fields(string(out)) {
		rel, err := filepath.Rel(root, abs)
		if err != nil {
			t.Fatal(err)
		}
		needs = append(needs, filepath.ToSlash(rel))
	}
	slices.Sort(needs)
	return slices.Compact(needs)
}

func TestDockerBuildContextIsWhatTheBuildNeeds(t *testing.T) {
	patterns := readDockerignore(t)
	var context []string
	err := filepath.WalkDir(repoRoot, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(repoRoot, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() || rel == ".dockerignore" { // Docker reads .dockerignore itself, and the Dockerfile from -f
			return nil
		}
		if !excluded(patterns, rel) {
			context = append(context, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	needs := buildNeeds(t)
	for _, f := range needs {
		if !slices.Contains(context, f) {
			t.Errorf("the build needs %s, which .dockerignore leaves out", f)
		}
	}
	for _, f := range context {
		if !slices.Contains(needs, f) {
			t.Errorf("the build context holds %s, which the build does not need: leave it out in .dockerignore", f)
		}
	}
	// What the Dockerfile copies from the context is in it.
	for _, src := range dockerfileCopies(t) {
		if src != "." && !slices.Contains(context, src) {
			t.Errorf("%s copies %s, which is not in the build context", dockerfile, src)
		}
	}
}

// dockerfileCopies lists the sources of the Dockerfile's COPY instructions
// that read the build context (not --from another stage).
func dockerfileCopies(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(dockerfile)
	if err != nil {
		t.Fatal(err)
	}
	var srcs []string
	for line := range strings.SplitSeq(string(data), "\n") {
		words := strings.Fields(line)
		if len(words) < 3 || !strings.EqualFold(words[0], "COPY") {
			continue
		}
		var args []string
		for _, w := range words[1:] {
			if strings.HasPrefix(w, "--from") {
				args = nil
				break
			}
			if !strings.HasPrefix(w, "--") {
				args = append(args, w)
			}
		}
		if len(args) > 1 {
			srcs = append(srcs, args[:len(args)-1]...)
		}
	}
	if len(srcs) == 0 {
		t.Fatalf("%s copies nothing from the context: is this test reading it right?", dockerfile)
	}
	return srcs
}

// The matcher reads patterns as Docker does.
func TestDockerignoreMatcher(t *testing.T) {
	ps := []dockerPattern{
		{re: regexp.MustCompile("^" + globRegexp("*") + "$")},
		{re: regexp.MustCompile("^" + globRegexp("bot/*.go") + "$"), include: true},
		{re: regexp.MustCompile("^" + globRegexp("bot/store/migrations") + "$"), include: true},
		{re: regexp.MustCompile("^" + globRegexp("**/*_test.go") + "$")},
	}
	for file, want := range map[string]bool{
		"README.md": true, "bot/bot.go": false, "bot/bot_test.go": true, "bot/testdata/policy.yaml": true,
		"bot/store/migrations/sqlite/0001_init.sql": false, "bot/slacktest/chat.go": true, "bot/x/y.go": true,
	} {
		if got := excluded(ps, file); got != want {
			t.Errorf("excluded(%s) = %v, want %v", file, got, want)
		}
	}
}
