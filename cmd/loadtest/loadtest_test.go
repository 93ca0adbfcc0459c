package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestMain runs the floor run's null app when the suite starts this test
// binary as one (the floor run runs os.Executable with -null-app).
func TestMain(m *testing.M) {
	if len(os.Args) == 2 && os.Args[1] == nullAppFlag {
		if err := runNullApp(); err != nil {
			fmt.Fprintln(os.Stderr, "null app:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runSmall runs a small suite within opts.timeout, and returns its report
// and the report's text (logged).
func runSmall(t *testing.T, opts options) (*report, *bytes.Buffer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), opts.timeout+10*time.Second)
	defer cancel()
	var progress bytes.Buffer
	rep, err := runSuite(ctx, opts, &progress)
	if err != nil {
		t.Fatalf("runSuite: %v\n%s", err, progress.String())
	}
	var text bytes.Buffer
	rep.writeText(&text)
	t.Logf("report:\n%s", text.String())
	return rep, &text
}

func TestBaselineSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the bot")
	}
	rep, text := runSmall(t, options{n: 20, jobs: 5, runs: []string{"baseline", "floor"}, timeout: 60 * time.Second})
	if len(rep.Runs) != 2 {
		t.Fatalf("runs = %d, want 2", len(rep.Runs))
	}
	if f := rep.Runs[1]; f.Key != "floor" || f.Verdict != "PASS" || f.Burst == nil || f.Burst.Acked != 20 || f.Burst.AckP99 <= 0 {
		t.Errorf("floor run: %+v, want PASS with 20 acks", f)
	}
	if !strings.Contains(text.String(), "against the floor's") {
		t.Error("report lacks the acks against the floor's")
	}
	r := rep.Runs[0]
	if r.Error != "" || r.Burst == nil {
		t.Fatalf("baseline did not complete: %s", r.Error)
	}
	if r.Burst.CreateTasks != 20 || r.Lost != 0 || r.Double != 0 || r.Verdict != "PASS" || rep.exitCode() != 0 {
		t.Errorf("CreateTasks %d, lost %d, double %d, verdict %s; want 20, 0, 0, PASS",
			r.Burst.CreateTasks, r.Lost, r.Double, r.Verdict)
	}
	if b := r.Burst; r.ToldButRun != 0 || r.UntoldEnds != 0 || r.DoubleParents != 0 || b.JobsStarted != 20 || b.JobEnds != 20 {
		t.Errorf("told-but-run %d, untold-end %d, double parents %d, jobs started %d, ends posted %d; want 0, 0, 0, 20, 20",
			r.ToldButRun, r.UntoldEnds, r.DoubleParents, b.JobsStarted, b.JobEnds)
	}
	if r.Burst.Acked != 20 || r.Burst.AckMax <= 0 || r.Burst.LastTaskReply <= 0 {
		t.Errorf("acked %d, max ack %s, last reply %s", r.Burst.Acked, r.Burst.AckMax, r.Burst.LastTaskReply)
	}
	if f := r.Follow; f == nil || f.Submitted != 5 || f.CreateTasks != 5 || len(f.ByInterval) != followIntervals || f.Window <= 0 {
		t.Errorf("follow = %+v, want 5 jobs submitted and reads counted per interval", f)
	}
	if len(r.PeakRSSKB) != 1 || r.PeakRSSKB[0] <= 0 {
		t.Errorf("peak RSS = %v, want one figure", r.PeakRSSKB)
	}
	for _, want := range []string{"== baseline — 1 replica, SQLite — PASS", "CreateTasks         20", "double submissions  0 table group(s)"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("report lacks %q", want)
		}
	}
}

func TestSelected(t *testing.T) {
	scs, err := selected([]string{"faults", "baseline"})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, sc := range scs {
		keys = append(keys, sc.key)
	}
	if got := strings.Join(keys, ","); got != "baseline,kill,pgrestart,disconnects,cv500" {
		t.Errorf("selected = %s", got)
	}
	scs, err = selected([]string{"baseline", "told"})
	if err != nil {
		t.Fatal(err)
	}
	keys = keys[:0]
	for _, sc := range scs {
		keys = append(keys, sc.key)
	}
	if got := strings.Join(keys, ","); got != "baseline,stall,stallpg,slowslack,skew,endfail" {
		t.Errorf("selected told = %s", got)
	}
	if _, err := selected([]string{"nosuch"}); err == nil {
		t.Error("an unknown run was accepted")
	}
}

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	for _, tt := range []struct {
		p    float64
		want time.Duration
	}{{50, 50 * time.Millisecond}, {99, 99 * time.Millisecond}, {100, 100 * time.Millisecond}, {1, time.Millisecond}} {
		if got := percentile(d, tt.p); got != tt.want {
			t.Errorf("p%v = %v, want %v", tt.p, got, tt.want)
		}
	}
	if percentile(nil, 50) != 0 {
		t.Error("percentile of nothing is not 0")
	}
}

func TestServingAddr(t *testing.T) {
	log := `{"level":"info","msg":"starting"}
{"level":"info","time":"x","msg":"serving /healthz, /readyz and /metrics","addr":"127.0.0.1:41234"}
`
	if got := servingAddr(log); got != "127.0.0.1:41234" {
		t.Errorf("servingAddr = %q", got)
	}
	if got := servingAddr("not json\n"); got != "" {
		t.Errorf("servingAddr of no such line = %q", got)
	}
}

func TestCeilingSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the bot")
	}
	rep, text := runSmall(t, options{n: 1, runs: []string{"ceiling1"}, rates: []int{10, 20}, step: time.Second, timeout: 80 * time.Second})
	r := rep.Runs[0]
	c := r.Ceiling
	if r.Error != "" || c == nil || r.Burst == nil {
		t.Fatalf("ceiling1 did not complete: %s", r.Error)
	}
	if len(c.Steps) != 2 || c.Steps[0].Sent != 10 || c.Steps[1].Sent != 20 {
		t.Fatalf("steps = %+v, want 10 then 20 commands", c.Steps)
	}
	// 20 commands a second is far below any ceiling: both steps hold.
	if c.AckCeiling != 20 || c.AckBroke != 0 || c.KeptUp != 20 {
		t.Errorf("ack ceiling %d, broke at %d, kept up to %d; want 20, 0, 20", c.AckCeiling, c.AckBroke, c.KeptUp)
	}
	// The warm-up's commands count with the steps'.
	if r.Burst.Commands != 40 || r.Burst.CreateTasks != 40 || r.Lost != 0 || r.Double != 0 || r.ToldButRun != 0 || r.Verdict != "PASS" {
		t.Errorf("commands %d, CreateTasks %d, lost %d, double %d, told-but-run %d, verdict %s; want 40, 40, 0, 0, 0, PASS",
			r.Burst.Commands, r.Burst.CreateTasks, r.Lost, r.Double, r.ToldButRun, r.Verdict)
	}
	if !strings.Contains(text.String(), "ceiling: ack p99 within 1s up to 20/s (passed it at no rate tried)") {
		t.Errorf("report lacks the ceiling line")
	}
}

func TestParseRates(t *testing.T) {
	if got, err := parseRates("50, 100,200"); err != nil || !slices.Equal(got, []int{50, 100, 200}) {
		t.Errorf("parseRates = %v, %v", got, err)
	}
	for _, bad := range []string{"", "50,50", "100,50", "0", "x", "20000"} {
		if _, err := parseRates(bad); err == nil {
			t.Errorf("parseRates(%q): no error", bad)
		}
	}
}

// The runs' acks are put against the floor's when the floor run passed, for
// the runs of its burst size only.
func TestFloorRatios(t *testing.T) {
	burst := func(n int, p50, p99 time.Duration) *phaseResult {
		return &phaseResult{Commands: n, AckP50: duration(p50), AckP99: duration(p99)}
	}
	runs := []runResult{
		{Key: "baseline", Verdict: "PASS", Burst: burst(200, 20*time.Millisecond, 30*time.Millisecond)},
		{Key: "slackrate", Verdict: "PASS", Burst: burst(30, 5*time.Millisecond, 6*time.Millisecond)},
		{Key: "floor", Verdict: "PASS", Burst: burst(200, 5*time.Millisecond, 10*time.Millisecond)},
	}
	var out bytes.Buffer
	writeFloorRatios(&out, runs)
	if got, want := strings.TrimSpace(out.String()), "ack p50 / p99 against the floor's (5ms / 10ms): baseline 4.0× / 3.0×"; got != want {
		t.Errorf("ratios = %q, want %q", got, want)
	}
	runs[2].Verdict = "FAIL"
	out.Reset()
	if writeFloorRatios(&out, runs); out.Len() != 0 {
		t.Errorf("ratios against a failed floor run: %q", out.String())
	}
}
