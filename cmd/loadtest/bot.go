package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// maxLogBytes bounds what is kept of one bot's log.
const maxLogBytes = 64 << 20

// goTool is the go command on PATH (go run and go test put the toolchain's
// own first).
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "go" // running it fails with "executable file not found in $PATH"
}

// moduleRoot is the directory of the go.mod the working directory is in.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, goTool(), "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("not inside the backupbot module: run it from the repository (go run ./cmd/loadtest)")
	}
	return filepath.Dir(mod), nil
}

// buildBot builds ./cmd/backupbot of the module into dir and returns the
// binary's path; with profiling, with -tags loadprofile (net/http/pprof on
// the ops server, which production builds lack).
func buildBot(ctx context.Context, dir string, profiling bool) (string, error) {
	root, err := moduleRoot(ctx)
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "backupbot")
	args := []string{"build", "-o", bin}
	if profiling {
		args = append(args, "-tags", "loadprofile")
	}
	cmd := exec.CommandContext(ctx, goTool(), append(args, "./cmd/backupbot")...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/backupbot: %w\n%s", err, out)
	}
	return bin, nil
}

// logBuffer keeps a subprocess's output, up to maxLogBytes.
type logBuffer struct {
	mu      sync.Mutex
	b       bytes.Buffer
	dropped int
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len()+len(p) > maxLogBytes {
		l.dropped += len(p)
		return len(p), nil
	}
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// tail is the last n lines of the log.
func (l *logBuffer) tail(n int) string {
	lines := strings.Split(strings.TrimRight(l.String(), "\n"), "\n")
	return strings.Join(lines[max(len(lines)-n, 0):], "\n")
}

// botProc is one backupbot subprocess.
type botProc struct {
	name   string
	cmd    *exec.Cmd
	log    *logBuffer
	exited chan struct{} // closed once the process has been waited for
	addr   string        // where it serves /healthz and /metrics
	rssKB  int64         // the last VmHWM read, in KiB
	cpu    time.Duration // the last user + system CPU time read
	killed bool          // by kill -9, on purpose
}

// startBot starts bin with args and env (and nothing else of this
// process's environment).
func startBot(bin, name string, env, args []string) (*botProc, error) {
	p := &botProc{name: name, log: &logBuffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	p.cmd.SysProcAttr = sysProcAttr()
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		_ = p.cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

func (p *botProc) pid() int { return p.cmd.Process.Pid }

func (p *botProc) alive() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// waitServing waits for the log line `"msg":"serving /healthz…","addr":…`
// and records the address.
func (p *botProc) waitServing(ctx context.Context) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		if addr := servingAddr(p.log.String()); addr != "" {
			p.addr = addr
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s never logged where it serves /healthz: %w; log:\n%s", p.name, ctx.Err(), p.log.tail(20))
		case <-p.exited:
			return fmt.Errorf("%s exited (%v) before serving; log:\n%s", p.name, p.cmd.ProcessState, p.log.tail(20))
		case <-t.C:
		}
	}
}

// servingAddr finds the address in the bot's "serving /healthz" log line.
func servingAddr(log string) string {
	sc := bufio.NewScanner(strings.NewReader(log))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for lines := 0; sc.Scan() && lines < 200; lines++ {
		var entry struct {
			Msg  string `json:"msg"`
			Addr string `json:"addr"`
		}
		if json.Unmarshal(sc.Bytes(), &entry) == nil && strings.HasPrefix(entry.Msg, "serving /healthz") {
			return entry.Addr
		}
	}
	return ""
}

// sampleRSS reads the process's peak resident set size (VmHWM) and keeps
// it; a process that has exited keeps its last sample.
func (p *botProc) sampleRSS() {
	if !p.alive() {
		return
	}
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.pid()))
	if err != nil {
		return
	}
	for line := range strings.SplitSeq(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				if kb, err := strconv.ParseInt(f[0], 10, 64); err == nil {
					p.rssKB = kb
				}
			}
		}
	}
}

// clockTick is the unit of /proc/PID/stat's CPU times (USER_HZ, 100 on
// Linux).
const clockTick = 10 * time.Millisecond

// sampleCPU reads the process's user and system CPU time so far and keeps
// it; a process that has exited keeps its last sample.
func (p *botProc) sampleCPU() {
	if !p.alive() {
		return
	}
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.pid()))
	if err != nil {
		return
	}
	// pid (comm) state ppid … : the fields after the command's closing
	// parenthesis, from the state (field 3); utime and stime are 14 and 15.
	s := string(raw)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 == nil && err2 == nil {
		p.cpu = time.Duration(utime+stime) * clockTick
	}
}

// scrape reads the bot's /metrics and returns its backupbot_ series:
// `name{labels}` → value.
func (p *botProc) scrape(ctx context.Context) (map[string]float64, error) {
	if p.addr == "" || !p.alive() {
		return nil, errors.New(p.name + " is not running")
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.addr+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s /metrics: %w", p.name, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return nil, fmt.Errorf("%s /metrics: %w", p.name, err)
	}
	out := map[string]float64{}
	for line := range strings.SplitSeq(string(body), "\n") {
		i := strings.LastIndexByte(line, ' ')
		if !strings.HasPrefix(line, "backupbot_") || i < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			out[line[:i]] = v
		}
	}
	return out, nil
}

// label is the value of a label in a series name such as
// `backupbot_slack_envelopes_total{result="queued",type="slash_commands"}`.
func label(series, name string) string {
	_, rest, ok := strings.Cut(series, name+`="`)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(rest, `"`)
	return v
}

// kill9 kills the process at once, as a crash or an OOM kill would.
func (p *botProc) kill9() {
	p.sampleRSS()
	p.sampleCPU()
	p.killed = true
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}

// stop sends SIGTERM and waits up to grace for the exit, then kills it.
// It returns the exit code, or -1 when it had to be killed.
func (p *botProc) stop(grace time.Duration) int {
	if !p.alive() {
		return p.cmd.ProcessState.ExitCode()
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.exited:
		return p.cmd.ProcessState.ExitCode()
	case <-t.C:
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.exited
		return -1
	}
}
