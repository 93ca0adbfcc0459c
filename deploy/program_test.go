package deploy

import (
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// configGo declares every environment variable the program reads, as
// `envconfig:"NAME"` struct tags (with `default:"…"` beside some). The
// deploy tests read it as text: deploy does not import the program.
const configGo = "../cmd/backupbot/config.go"

var (
	envconfigTagRE = regexp.MustCompile(`envconfig:"([^"]*)"`)
	defaultTagRE   = regexp.MustCompile(`default:"([^"]*)"`)
	envNameRE      = regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`)
)

// programVar is one environment variable the program reads.
type programVar struct {
	def        string // its default, from the default:"…" tag
	hasDefault bool
}

// programEnv returns the environment variables the program reads, by name.
func programEnv(t *testing.T) map[string]programVar {
	t.Helper()
	src, err := os.ReadFile(configGo)
	if err != nil {
		t.Fatalf("%v (the deploy tests read the program's environment variables from it; if the config moved, update configGo in program_test.go)", err)
	}
	vars := map[string]programVar{}
	for i, line := range strings.Split(string(src), "\n") {
		m := envconfigTagRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		name := m[1]
		if !envNameRE.MatchString(name) {
			t.Fatalf("%s:%d: envconfig tag %q is not a variable name the test understands (want like BACKUPBOT_POLICY)", configGo, i+1, name)
		}
		v := programVar{}
		if d := defaultTagRE.FindStringSubmatch(line); d != nil {
			v = programVar{def: d[1], hasDefault: true}
		}
		vars[name] = v
	}
	// The program reads 16 today. Far fewer means the regexp no longer
	// matches how config.go declares them, and the tests below would pass
	// without checking anything.
	if len(vars) < 10 {
		t.Fatalf("%s: found %d envconfig tags, want at least 10: has the way config.go declares variables changed? Update envconfigTagRE in program_test.go", configGo, len(vars))
	}
	return vars
}

// effective returns the value of name as the program will see it: set in
// env, else its default.
func effective(t *testing.T, prog map[string]programVar, env map[string]string, name string) string {
	t.Helper()
	if v, ok := env[name]; ok {
		return v
	}
	pv, ok := prog[name]
	if !ok {
		t.Fatalf("%s: the program no longer reads %s; update the deploy tests", configGo, name)
	}
	if !pv.hasDefault {
		t.Fatalf("%s is neither set nor has a default in %s", name, configGo)
	}
	return pv.def
}

// httpPort is the port of a BACKUPBOT_HTTP_ADDR value (":8080" → 8080).
func httpPort(t *testing.T, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("BACKUPBOT_HTTP_ADDR %q: %v (want host:port, like :8080)", addr, err)
	}
	n, err := strconv.Atoi(p)
	if err != nil || n <= 0 || n > 65535 {
		t.Fatalf("BACKUPBOT_HTTP_ADDR %q: port %q is not a number (the probes and the Service need a fixed port)", addr, p)
	}
	return n
}

// shutdownTimeout parses a BACKUPBOT_SHUTDOWN_TIMEOUT value.
func shutdownTimeout(t *testing.T, s string) time.Duration {
	t.Helper()
	d, err := time.ParseDuration(s)
	if err != nil {
		t.Fatalf("BACKUPBOT_SHUTDOWN_TIMEOUT %q: %v (want a Go duration like 20s)", s, err)
	}
	return d
}

func TestProgramEnvDefaults(t *testing.T) {
	prog := programEnv(t)
	// The tests below fall back on these defaults when a manifest does not
	// set the variable: make sure they are there.
	for _, name := range []string{"BACKUPBOT_HTTP_ADDR", "BACKUPBOT_SHUTDOWN_TIMEOUT", "BACKUPBOT_DATABASE_URL"} {
		if v, ok := prog[name]; !ok || !v.hasDefault {
			t.Errorf("%s: %s has no default:\"…\" tag; the deploy tests expect one", configGo, name)
		}
	}
}
