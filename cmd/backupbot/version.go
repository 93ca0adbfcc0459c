package main

import (
	"flag"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
)

// Set by the linker: -ldflags "-X main.version=1.2.3 -X main.commit=abc123".
// Without them, the module version and VCS revision Go stamped are used.
var (
	version = ""
	commit  = ""
)

// buildInfo is the version and commit of this binary.
func buildInfo() (ver, rev string) {
	ver, rev = version, commit
	if bi, ok := debug.ReadBuildInfo(); ok {
		if ver == "" && bi.Main.Version != "" {
			ver = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && rev == "" {
				rev = s.Value
			}
		}
	}
	if ver == "" {
		ver = "(devel)"
	}
	if rev == "" {
		rev = "unknown"
	}
	return ver, rev
}

// runVersion is `backupbot version` (and `backupbot --version`).
func runVersion(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("backupbot version", flag.ContinueOnError)
	if code, ok := parseFlags(fs, args, func(w io.Writer) { writeCommandHelp(w, fs) }, stdout, stderr); !ok {
		return code
	}
	ver, rev := buildInfo()
	fmt.Fprintf(stdout, "backupbot %s (commit %s, %s)\n", ver, rev, runtime.Version())
	return exitOK
}

// buildInfoMetric is backupbot_build_info{version,commit,goversion} 1.
func buildInfoMetric() prometheus.Collector {
	ver, rev := buildInfo()
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "backupbot_build_info",
		Help: "The version and commit of the running binary."}, []string{"version", "commit", "goversion"})
	g.WithLabelValues(ver, rev, runtime.Version()).Set(1)
	return g
}
