package simulator

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
)

func TestPaths(t *testing.T) {
	tests := []struct {
		name, method, path string
		wantStatus         int
		wantOp             Op
	}{
		{name: "command center", method: "GET", path: "/commandcenter/api/Subclient?clientName=aws-prod-account", wantStatus: 200, wantOp: OpSubclient},
		{name: "web console", method: "GET", path: "/webconsole/api/Subclient?clientName=aws-prod-account", wantStatus: 200, wantOp: OpSubclient},
		{name: "no base", method: "GET", path: "/Subclient?clientName=aws-prod-account", wantStatus: 200, wantOp: OpSubclient},
		{name: "deeper prefix", method: "GET", path: "/cv/CommandCenter/API/subclient/?clientname=aws-prod-account", wantStatus: 200, wantOp: OpSubclient},
		{name: "lower case", method: "GET", path: "/commandcenter/api/job/1", wantStatus: 200, wantOp: OpJob},
		{name: "upper case", method: "GET", path: "/WEBCONSOLE/API/JOB?CLIENTID=4131", wantStatus: 200, wantOp: OpJob},
		{name: "createTask spelling", method: "POST", path: "/commandcenter/api/createTask", wantStatus: 400, wantOp: OpCreateTask},
		{name: "login lower case", method: "POST", path: "/commandcenter/api/login", wantStatus: 400, wantOp: OpLogin},
		{name: "unknown endpoint", method: "GET", path: "/commandcenter/api/Client", wantStatus: 404},
		{name: "base only", method: "GET", path: "/commandcenter/api", wantStatus: 404},
		{name: "too deep", method: "GET", path: "/commandcenter/api/Job/1/action/pause", wantStatus: 404},
		{name: "kill by GET", method: "GET", path: "/commandcenter/api/Job/1/action/kill", wantStatus: 405, wantOp: OpKill},
		{name: "wrong method", method: "GET", path: "/commandcenter/api/CreateTask", wantStatus: 405, wantOp: OpCreateTask},
		{name: "login by GET", method: "GET", path: "/commandcenter/api/Login", wantStatus: 405, wantOp: OpLogin},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Config{})
			r := h.do(tt.method, tt.path, staticToken, nil)
			if r.status != tt.wantStatus {
				t.Errorf("%s %s = %d %s, want %d", tt.method, tt.path, r.status, r.body, tt.wantStatus)
			}
			if strings.Contains(string(r.body), "errorCode") && r.status == 200 {
				t.Errorf("%s %s = %s, want no errorCode", tt.method, tt.path, r.body)
			}
			if reqs := h.sim.Requests(); len(reqs) != 1 || reqs[0].Op != tt.wantOp {
				t.Errorf("Requests() = %+v, want one with Op %q", reqs, tt.wantOp)
			}
		})
	}
}

func TestRequestsLog(t *testing.T) {
	h := newHarness(t, Config{})
	token := h.login()
	h.do(http.MethodGet, api+"/Subclient?clientName=aws-prod-account", token, nil)
	h.createTask(nil)
	h.do(http.MethodGet, api+"/Job/149800", "", nil)
	reqs := h.sim.Requests()
	want := []struct {
		method, path, token string
		op                  Op
		status              int
		query               url.Values
	}{
		{method: "POST", path: api + "/Login", op: OpLogin, status: 200, query: url.Values{}},
		{method: "GET", path: api + "/Subclient", token: token, op: OpSubclient, status: 200, query: url.Values{"clientName": {"aws-prod-account"}}},
		{method: "POST", path: api + "/CreateTask", token: staticToken, op: OpCreateTask, status: 200, query: url.Values{}},
		{method: "GET", path: api + "/Job/149800", op: OpJob, status: 401, query: url.Values{}},
	}
	if len(reqs) != len(want) {
		t.Fatalf("Requests() has %d entries, want %d", len(reqs), len(want))
	}
	for i, w := range want {
		got := reqs[i]
		if got.Method != w.method || got.Path != w.path || got.Authtoken != w.token || got.Op != w.op ||
			got.Status != w.status || got.Query.Encode() != w.query.Encode() || !got.Time.Equal(h.clock.Now()) {
			t.Errorf("Requests()[%d] = %+v, want %+v", i, got, w)
		}
	}
	login, _ := reqs[0].Body.(map[string]any)
	if login["username"] != "admin" || login["password"] != "c2ltdWxhdG9y" {
		t.Errorf("logged Login body = %v, want username and base64 password", reqs[0].Body)
	}
	task, _ := reqs[2].Body.(map[string]any)
	if _, ok := task["taskInfo"].(map[string]any); !ok {
		t.Errorf("logged CreateTask body = %v, want the decoded taskInfo", reqs[2].Body)
	}
	if reqs[1].Body != nil {
		t.Errorf("logged GET body = %v, want nil", reqs[1].Body)
	}
}

func TestConcurrentUse(t *testing.T) {
	h := newHarness(t, Config{})
	body := validTask(t)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 5 {
				if _, err := h.call(context.Background(), http.MethodPost, api+"/CreateTask", staticToken, body); err != nil {
					t.Errorf("CreateTask: %v", err)
				}
				if _, err := h.call(context.Background(), http.MethodGet, api+"/Job?clientId=4131", staticToken, nil); err != nil {
					t.Errorf("GET /Job: %v", err)
				}
			}
		})
	}
	h.sim.Inject(Fault{Op: OpCreateTask, Kind: FaultErrorCode, Times: 3})
	wg.Wait()
	if n := h.sim.CreateTaskCount(); n < 37 || n > 40 {
		t.Errorf("CreateTaskCount() = %d, want 40 less up to 3 faulted calls", n)
	}
	if n := len(h.sim.Requests()); n != 80 {
		t.Errorf("Requests() has %d entries, want 80", n)
	}
	r := h.do(http.MethodGet, api+"/Job?clientId=4131", staticToken, nil)
	var out jobListing
	r.decode(t, &out)
	seen := map[int]bool{}
	for _, j := range out.Jobs {
		if seen[j.JobSummary.JobID] {
			t.Errorf("job %d listed twice", j.JobSummary.JobID)
		}
		seen[j.JobSummary.JobID] = true
	}
	if len(seen) != h.sim.CreateTaskCount() {
		t.Errorf("listed %d jobs, want %d", len(seen), h.sim.CreateTaskCount())
	}
}

func TestListenAndServe(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	urls := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- ListenAndServe(ctx, "127.0.0.1:0", Config{Tokens: []string{staticToken}}, func(u string) { urls <- u })
	}()
	var base string
	select {
	case base = <-urls:
	case err := <-done:
		t.Fatalf("ListenAndServe() = %v before ready", err)
	}
	if !strings.HasPrefix(base, "http://127.0.0.1:") || !strings.HasSuffix(base, "/commandcenter/api") {
		t.Fatalf("ready URL = %q, want http://127.0.0.1:PORT/commandcenter/api", base)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/Subclient?clientName=aws-demo-account", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authtoken", staticToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET /Subclient: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var out subclientListing
	if err := json.Unmarshal(body, &out); err != nil || resp.StatusCode != 200 || out.FilterQueryCount != 8 {
		t.Errorf("GET /Subclient = %d %s, want 8 subclients (File System, RDS 2, Redshift 1, DynamoDB 4)", resp.StatusCode, body)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("ListenAndServe() after cancel = %v, want nil", err)
	}
}

func TestListenAndServeBadAddress(t *testing.T) {
	err := ListenAndServe(context.Background(), "127.0.0.1:notaport", Config{}, func(string) {
		t.Error("ready called for a bad address")
	})
	if err == nil {
		t.Error("ListenAndServe(bad address) = nil, want an error")
	}
}
