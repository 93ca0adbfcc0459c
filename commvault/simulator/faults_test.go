package simulator

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestFaultAnswers(t *testing.T) {
	const listing = "/Subclient?clientName=aws-prod-account"
	tests := []struct {
		name       string
		fault      Fault
		wantStatus int
		wantBody   string // exact body, or "" to skip
		wantIn     string // part of the body
		wantHeader map[string]string
	}{
		{name: "errorcode", fault: Fault{Op: OpSubclient, Kind: FaultErrorCode, Code: 7, Message: "Database busy."},
			wantStatus: 200, wantBody: `{"errorCode":7,"errorMessage":"Database busy."}`},
		{name: "errorcode defaults", fault: Fault{Kind: FaultErrorCode},
			wantStatus: 200, wantIn: `"errorCode":1,`},
		{name: "500 json", fault: Fault{Op: OpSubclient, Kind: FaultHTTP500JSON, Code: 12, Message: "Internal error."},
			wantStatus: 500, wantBody: `{"errorCode":12,"errorMessage":"Internal error."}`,
			wantHeader: map[string]string{"Content-Type": "application/json;charset=UTF-8"}},
		{name: "500 html", fault: Fault{Op: OpSubclient, Kind: FaultHTTP500HTML},
			wantStatus: 500, wantIn: "<html><head><title>500 Internal Server Error</title>",
			wantHeader: map[string]string{"Content-Type": "text/html;charset=UTF-8"}},
		{name: "401", fault: Fault{Op: OpSubclient, Kind: FaultUnauthorized},
			wantStatus: 401, wantBody: `{"errorCode":5,"errorMessage":"Access denied"}`},
		{name: "429 default", fault: Fault{Op: OpSubclient, Kind: FaultRateLimited},
			wantStatus: 429, wantHeader: map[string]string{"Retry-After": "1"}},
		{name: "429 rounded up", fault: Fault{Op: OpSubclient, Kind: FaultRateLimited, RetryAfter: 1500 * time.Millisecond},
			wantStatus: 429, wantHeader: map[string]string{"Retry-After": "2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Config{})
			h.sim.Inject(tt.fault)
			r := h.do(http.MethodGet, api+listing, staticToken, nil)
			if r.status != tt.wantStatus || (tt.wantBody != "" && string(r.body) != tt.wantBody) ||
				!strings.Contains(string(r.body), tt.wantIn) {
				t.Errorf("with fault %+v: %d %s, want %d %s%s", tt.fault, r.status, r.body, tt.wantStatus, tt.wantBody, tt.wantIn)
			}
			for k, v := range tt.wantHeader {
				if got := r.header.Get(k); got != v {
					t.Errorf("with fault %+v: header %s = %q, want %q", tt.fault, k, got, v)
				}
			}
			if r := h.do(http.MethodGet, api+listing, staticToken, nil); r.status != http.StatusOK || strings.Contains(string(r.body), "errorCode") {
				t.Errorf("second call after a one-time fault = %d %s, want the listing", r.status, r.body)
			}
		})
	}
}

func TestFaultMatching(t *testing.T) {
	h := newHarness(t, Config{})
	h.sim.Inject(Fault{Op: OpJob, Kind: FaultHTTP500JSON, Times: 2})
	h.sim.Inject(Fault{Op: OpAny, Kind: FaultRateLimited})
	calls := []struct {
		path string
		want int
	}{
		{path: "/Subclient?clientId=4131", want: 429}, // OpAny takes the first call of any kind
		{path: "/Subclient?clientId=4131", want: 200},
		{path: "/Job/1", want: 500},
		{path: "/Job/1", want: 500},
		{path: "/Job/1", want: 200},
	}
	for i, c := range calls {
		if r := h.do(http.MethodGet, api+c.path, staticToken, nil); r.status != c.want {
			t.Errorf("call %d GET %s = %d, want %d", i, c.path, r.status, c.want)
		}
	}
}

func TestFaultBeforeTokenCheck(t *testing.T) {
	h := newHarness(t, Config{})
	h.sim.Inject(Fault{Op: OpLogin, Kind: FaultHTTP500HTML})
	if r := h.do(http.MethodPost, api+"/Login", "", loginBody("admin", "simulator")); r.status != 500 {
		t.Errorf("Login with a 500html fault = %d, want 500", r.status)
	}
	h.login()
}

func TestFaultNoJobIDs(t *testing.T) {
	h := newHarness(t, Config{})
	h.sim.Inject(Fault{Op: OpCreateTask, Kind: FaultNoJobIDs})
	r := h.createTask(nil)
	if r.status != http.StatusOK || string(r.body) != `{"taskId":30450}` {
		t.Errorf("CreateTask with nojobids = %d %s, want 200 {\"taskId\":30450}", r.status, r.body)
	}
	if n := h.sim.CreateTaskCount(); n != 0 {
		t.Errorf("CreateTaskCount() = %d, want 0", n)
	}
	var out createAnswer
	h.createTask(nil).decode(t, &out)
	if out.TaskID != 30451 || len(out.JobIDs) != 1 || out.JobIDs[0] != "149800" {
		t.Errorf("next CreateTask = %+v, want task 30451 with job 149800", out)
	}
}

func TestFaultJobEnds(t *testing.T) {
	tests := []struct {
		status      string
		wantStatus  string
		wantPercent int
		wantReason  bool
	}{
		{status: "", wantStatus: "Failed", wantPercent: 60, wantReason: true},
		{status: "Killed", wantStatus: "Killed", wantPercent: 60},
		{status: "Completed w/ one or more errors", wantStatus: "Completed w/ one or more errors", wantPercent: 100},
		{status: "Failed to Start", wantStatus: "Failed to Start", wantPercent: 60, wantReason: true},
	}
	for _, tt := range tests {
		t.Run(tt.wantStatus, func(t *testing.T) {
			h := newHarness(t, Config{JobDuration: 10 * time.Second})
			h.sim.Inject(Fault{Op: OpCreateTask, Kind: FaultJobEnds, Status: tt.status})
			// A rejected CreateTask does not use the fault up.
			doc := validTask(t)
			setPath(t, doc, "taskInfo.task.taskType", 2)
			if e := errorAnswer(t, h.createTask(doc)); e.ErrorCode != codeTaskType {
				t.Fatalf("invalid CreateTask = %+v, want errorCode %d", e, codeTaskType)
			}
			faulty := h.createJob(18244, "FULL")
			normal := h.createJob(18244, "FULL")
			h.clock.Advance(5 * time.Second)
			if got, _ := getJob(t, h, faulty); got.Status != "Running" {
				t.Errorf("faulty job midway = %q, want Running", got.Status)
			}
			h.clock.Advance(5 * time.Second)
			got, _ := getJob(t, h, faulty)
			if got.Status != tt.wantStatus || got.PercentComplete != tt.wantPercent || (got.PendingReason != "") != tt.wantReason ||
				got.JobEndTime == 0 {
				t.Errorf("faulty job = %+v, want %q at %d%% (reason %v)", got, tt.wantStatus, tt.wantPercent, tt.wantReason)
			}
			if got, _ := getJob(t, h, normal); got.Status != "Completed" {
				t.Errorf("next job = %q, want Completed", got.Status)
			}
		})
	}
}

func TestFaultHangCreateTask(t *testing.T) {
	h := newHarness(t, Config{})
	h.sim.Inject(Fault{Op: OpCreateTask, Kind: FaultHang})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for h.sim.CreateTaskCount() == 0 && ctx.Err() == nil {
			time.Sleep(time.Millisecond)
		}
		cancel() // the client gives up once the job exists
	}()
	_, err := h.call(ctx, http.MethodPost, api+"/CreateTask", staticToken, validTask(t))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("hung CreateTask error = %v, want context canceled", err)
	}
	if n := h.sim.CreateTaskCount(); n != 1 {
		t.Errorf("CreateTaskCount() = %d, want 1: the task is created before the hang", n)
	}
	if _, ok := getJob(t, h, firstJobID); !ok {
		t.Errorf("job %d of the hung CreateTask not found", firstJobID)
	}
}

func TestFaultHangElapses(t *testing.T) {
	h := newHarness(t, Config{})
	h.sim.Inject(Fault{Op: OpCreateTask, Kind: FaultHang, Hang: 20 * time.Millisecond})
	h.sim.Inject(Fault{Op: OpJob, Kind: FaultHang, Hang: 20 * time.Millisecond})
	var out createAnswer
	r := h.createTask(nil)
	r.decode(t, &out)
	if r.status != http.StatusOK || len(out.JobIDs) != 1 {
		t.Errorf("CreateTask after a short hang = %d %s, want the ids", r.status, r.body)
	}
	if _, ok := getJob(t, h, firstJobID); !ok {
		t.Errorf("GET /Job after a short hang did not find job %d", firstJobID)
	}
}

func TestFaultHangOtherCall(t *testing.T) {
	h := newHarness(t, Config{})
	h.sim.Inject(Fault{Op: OpJob, Kind: FaultHang})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for len(h.sim.Requests()) == 0 && ctx.Err() == nil {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	if _, err := h.call(ctx, http.MethodGet, api+"/Job/1", staticToken, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("hung GET /Job error = %v, want context canceled", err)
	}
	if r := h.do(http.MethodGet, api+"/Job/1", staticToken, nil); r.status != http.StatusOK {
		t.Errorf("GET /Job after the hang = %d, want 200", r.status)
	}
}
