package simulator

import (
	"fmt"
	"net/http"
	"testing"
	"time"
)

// kill posts a kill for job id and returns the errorCode and message of
// the answer, which must be an HTTP 200 in the errList shape.
func kill(t *testing.T, h *harness, path string) (int, string) {
	t.Helper()
	r := h.do(http.MethodPost, api+path, staticToken, nil)
	var out killErrors
	r.decode(t, &out)
	if r.status != http.StatusOK || len(out.Errors) != 1 || len(out.Errors[0].ErrList) != 1 {
		t.Fatalf("POST %s = %d %s, want 200 with one errList entry", path, r.status, r.body)
	}
	e := out.Errors[0].ErrList[0]
	return e.ErrorCode, e.ErrLogMessage
}

func TestKillRunningJob(t *testing.T) {
	h := newHarness(t, Config{JobDuration: 100 * time.Second})
	id := h.createJob(18244, "FULL")
	h.clock.Advance(50 * time.Second)
	before, _ := getJob(t, h, id)
	if code, msg := kill(t, h, fmt.Sprintf("/Job/%d/action/kill", id)); code != 0 || msg != "" {
		t.Fatalf("kill of a running job = %d %q, want errorCode 0", code, msg)
	}
	pending, _ := getJob(t, h, id)
	if pending.Status != "Kill Pending" || pending.JobEndTime != 0 {
		t.Errorf("right after the kill: %s, end %d; want Kill Pending, no end", pending.Status, pending.JobEndTime)
	}
	// Killing it again while the kill is pending is accepted, and changes nothing.
	if code, _ := kill(t, h, fmt.Sprintf("/JOB/%d/Action/Kill", id)); code != 0 {
		t.Errorf("second kill while pending = %d, want 0", code)
	}
	h.clock.Advance(killDelay)
	got, _ := getJob(t, h, id)
	if got.Status != "Killed" || got.JobEndTime != h.clock.Now().Unix() || got.PercentComplete != before.PercentComplete ||
		got.SizeOfApplication >= backupSize("aws-prod-account", "orders", "FULL") || got.PendingReason == "" {
		t.Errorf("after the kill: %+v, want Killed at %d at %d%%, part of the size, with a reason",
			got, h.clock.Now().Unix(), before.PercentComplete)
	}
	h.clock.Advance(time.Hour) // it does not come back to life at its planned end
	if later, _ := getJob(t, h, id); later.Status != "Killed" || later.JobEndTime != got.JobEndTime {
		t.Errorf("an hour later: %s ended %d, want Killed ended %d", later.Status, later.JobEndTime, got.JobEndTime)
	}
	if n := h.sim.Kills(); n != 2 {
		t.Errorf("Kills() = %d, want 2", n)
	}
	// The listing agrees: the job is finished, not active.
	r := h.do(http.MethodGet, api+"/Job?clientId=4131&jobCategory=Active", staticToken, nil)
	var out jobListing
	r.decode(t, &out)
	if len(out.Jobs) != 0 {
		t.Errorf("active jobs after the kill = %+v, want none", out.Jobs)
	}
}

func TestKillWaitingJob(t *testing.T) {
	h := newHarness(t, Config{JobDuration: 100 * time.Second})
	id := h.createJob(18244, "INCREMENTAL")
	if code, _ := kill(t, h, fmt.Sprintf("/Job/%d/action/kill", id)); code != 0 {
		t.Fatalf("kill of a waiting job = %d, want 0", code)
	}
	h.clock.Advance(killDelay)
	if got, _ := getJob(t, h, id); got.Status != "Killed" || got.PercentComplete != 0 {
		t.Errorf("killed while waiting: %s at %d%%, want Killed at 0%%", got.Status, got.PercentComplete)
	}
}

// A job that has ended, or never existed, cannot be killed: Commvault
// answers HTTP 200 with a nonzero errorCode, and nothing changes.
func TestKillRefused(t *testing.T) {
	h := newHarness(t, Config{JobDuration: 10 * time.Second})
	done := h.createJob(18244, "FULL")
	h.clock.Advance(time.Minute)
	tests := []struct {
		name, path string
		code       int
	}{
		{"ended", fmt.Sprintf("/Job/%d/action/kill", done), codeKillEnded},
		{"no such job", "/Job/999999/action/kill", codeKillNotFound},
		{"not a number", "/Job/abc/action/kill", codeKillBadJob},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if code, msg := kill(t, h, tt.path); code != tt.code || msg == "" {
				t.Errorf("POST %s = %d %q, want errorCode %d with a message", tt.path, code, msg, tt.code)
			}
		})
	}
	if got, _ := getJob(t, h, done); got.Status != "Completed" {
		t.Errorf("ended job after a refused kill: %s, want Completed", got.Status)
	}
	if n := h.sim.Kills(); n != 0 {
		t.Errorf("Kills() = %d after refusals, want 0", n)
	}
}

func TestKillNeedsPOSTAndToken(t *testing.T) {
	h := newHarness(t, Config{JobDuration: 100 * time.Second})
	id := h.createJob(18244, "FULL")
	path := fmt.Sprintf("%s/Job/%d/action/kill", api, id)
	if r := h.do(http.MethodGet, path, staticToken, nil); r.status != http.StatusMethodNotAllowed {
		t.Errorf("GET %s = %d, want 405", path, r.status)
	}
	if r := h.do(http.MethodPost, path, "QSDK wrong", nil); r.status != http.StatusUnauthorized {
		t.Errorf("POST %s with a bad token = %d, want 401", path, r.status)
	}
	if r := h.do(http.MethodPost, fmt.Sprintf("%s/Job/%d/action/explode", api, id), staticToken, nil); r.status != http.StatusNotFound {
		t.Errorf("an unknown job action = %d, want 404", r.status)
	}
	if got, _ := getJob(t, h, id); got.Status == "Killed" || got.Status == "Kill Pending" {
		t.Errorf("job %s after refused calls, want it untouched", got.Status)
	}
}

// A kill is a write: it counts against WriteBudget, not ReadBudget.
func TestKillIsAWrite(t *testing.T) {
	h := newHarness(t, Config{JobDuration: 100 * time.Second, WriteBudget: 2})
	id := h.createJob(18244, "FULL") // write 1
	path := fmt.Sprintf("%s/Job/%d/action/kill", api, id)
	if r := h.do(http.MethodPost, path, staticToken, nil); r.status != http.StatusOK {
		t.Fatalf("kill = %d %s", r.status, r.body)
	}
	if r := h.do(http.MethodPost, path, staticToken, nil); r.status != http.StatusTooManyRequests {
		t.Errorf("third write = %d, want 429", r.status)
	}
	if n := h.sim.Reads(); n != 0 {
		t.Errorf("reads = %d, want 0", n)
	}
}
