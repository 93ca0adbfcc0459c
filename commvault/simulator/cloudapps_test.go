package simulator

import (
	"net/http"
	"testing"
	"time"
)

func TestInstance(t *testing.T) {
	h := newHarness(t, Config{})
	tests := []struct {
		id       string
		wantType int // 0: no cloudAppsInstance
		wantName string
		wantCode int // errorCode, 0 when found
	}{
		{"861", TypeDynamoDB, "DynamoDB", 0},
		{"858", TypeRDS, "RDS", 0},
		{"859", TypeRedshift, "Redshift", 0},
		{"901", 0, "DefaultInstanceName", 0}, // aws-demo-account's File System instance
		{"1", 0, "", codeClientNotFound},
		{"x", 0, "", codeBadQuery},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			r := h.do(http.MethodGet, api+"/Instance/"+tt.id, staticToken, nil)
			if tt.wantCode != 0 {
				if e := errorAnswer(t, r); e.ErrorCode != tt.wantCode {
					t.Errorf("GET /Instance/%s = %s, want errorCode %d", tt.id, r.body, tt.wantCode)
				}
				return
			}
			var out instanceAnswer
			r.decode(t, &out)
			if len(out.InstanceProperties) != 1 {
				t.Fatalf("GET /Instance/%s = %s, want one instance", tt.id, r.body)
			}
			p := out.InstanceProperties[0]
			gotType := 0
			if p.CloudApps != nil {
				gotType = p.CloudApps.InstanceType
			}
			if gotType != tt.wantType || p.Instance.InstanceName != tt.wantName || p.Instance.ClientName != "aws-demo-account" {
				t.Errorf("GET /Instance/%s = %s, want %s of aws-demo-account, instanceType %d", tt.id, r.body, tt.wantName, tt.wantType)
			}
		})
	}
	if r := h.do(http.MethodGet, api+"/Instance/861", "", nil); r.status != http.StatusUnauthorized {
		t.Errorf("GET /Instance without a token = %d, want 401", r.status)
	}
}

func TestFirstIncrementalIsFull(t *testing.T) {
	h := newHarness(t, Config{JobDuration: time.Minute})
	first := h.createJob(18244, "INCREMENTAL")
	if j, _ := getJob(t, h, first); j.BackupLevelName != "Full" {
		t.Errorf("first incremental of a table group ran as %q, want Full", j.BackupLevelName)
	}
	second := h.createJob(18244, "INCREMENTAL") // the full is running
	if j, _ := getJob(t, h, second); j.BackupLevelName != "Incremental" {
		t.Errorf("incremental after a full ran as %q, want Incremental", j.BackupLevelName)
	}
	// A full that failed does not count.
	h.sim.Inject(Fault{Op: OpCreateTask, Kind: FaultJobEnds, Status: "Failed"})
	failed := h.createJob(18245, "FULL")
	h.clock.Advance(2 * time.Minute)
	after := h.createJob(18245, "INCREMENTAL")
	if j, _ := getJob(t, h, after); failed == 0 || j.BackupLevelName != "Full" {
		t.Errorf("incremental after a failed full ran as %q, want Full", j.BackupLevelName)
	}
}

func TestCreateTaskFaultsAfterCreating(t *testing.T) {
	t.Run("500 that created the job", func(t *testing.T) {
		h := newHarness(t, Config{})
		h.sim.Inject(Fault{Op: OpCreateTask, Kind: FaultCreated500})
		r := h.createTask(nil)
		if e := errorAnswer(t, r); r.status != http.StatusInternalServerError || e.ErrorCode == 0 {
			t.Errorf("CreateTask = %d %s, want 500 with an errorCode", r.status, r.body)
		}
		if n := h.sim.CreateTaskCount(); n != 1 {
			t.Errorf("CreateTaskCount = %d, want 1: the job was created", n)
		}
	})
	t.Run("hidden job beside the real one", func(t *testing.T) {
		h := newHarness(t, Config{})
		h.sim.Inject(Fault{Op: OpCreateTask, Kind: FaultHiddenJob})
		id := h.createJob(18244, "FULL")
		r := h.do(http.MethodGet, api+"/Job?clientId=4131", staticToken, nil)
		var out jobListing
		r.decode(t, &out)
		if len(out.Jobs) != 2 || out.Jobs[0].JobSummary.IsVisible || !out.Jobs[1].JobSummary.IsVisible ||
			out.Jobs[1].JobSummary.JobID != id || out.Jobs[0].JobSummary.Subclient.SubclientID != 18244 {
			t.Errorf("listing = %s, want the hidden job (isVisible false) listed before job %d", r.body, id)
		}
		if n := h.sim.CreateTaskCount(); n != 1 {
			t.Errorf("CreateTaskCount = %d, want 1", n)
		}
	})
}

func TestRateLimitWithoutRetryAfter(t *testing.T) {
	t.Run("fault", func(t *testing.T) {
		h := newHarness(t, Config{})
		h.sim.Inject(Fault{Op: OpJob, Kind: FaultRateLimitPeriod, RetryAfter: 90 * time.Second})
		r := h.do(http.MethodGet, api+"/Job/1", staticToken, nil)
		if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") != "" ||
			r.header.Get("X-RateLimit-Period") != "90" || r.header.Get("X-RateLimit-Limit") == "" {
			t.Errorf("GET /Job = %d %v, want 429 with X-RateLimit-Limit, X-RateLimit-Period 90 and no Retry-After", r.status, r.header)
		}
	})
	t.Run("budget", func(t *testing.T) {
		h := newHarness(t, Config{ReadBudget: 1, BudgetWindow: time.Hour, NoRetryAfter: true})
		h.do(http.MethodGet, api+"/Job/1", staticToken, nil)
		r := h.do(http.MethodGet, api+"/Job/1", staticToken, nil)
		if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") != "" || r.header.Get("X-RateLimit-Period") != "3600" {
			t.Errorf("GET /Job past the budget = %d %v, want 429 with X-RateLimit-Period 3600 and no Retry-After", r.status, r.header)
		}
	})
}
