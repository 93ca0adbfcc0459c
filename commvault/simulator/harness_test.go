package simulator

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const staticToken = "QSDK static-test-token"

// fakeClock is a settable clock for Config.Now.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// harness is a simulator behind httptest.NewServer with a fake clock.
type harness struct {
	t     *testing.T
	sim   *Server
	srv   *httptest.Server
	clock *fakeClock
}

func newHarness(t *testing.T, cfg Config) *harness {
	t.Helper()
	clock := newFakeClock()
	if cfg.Now == nil {
		cfg.Now = clock.Now
	}
	if cfg.Tokens == nil {
		cfg.Tokens = []string{staticToken}
	}
	sim := New(cfg)
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	return &harness{t: t, sim: sim, srv: srv, clock: clock}
}

// response is one raw answer.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) decode(t *testing.T, out any) {
	t.Helper()
	if err := json.Unmarshal(r.body, out); err != nil {
		t.Fatalf("decode %q: %v", r.body, err)
	}
}

// call sends one request to base+path with token in Authtoken, or in
// Authorization when it starts with "Bearer "; body is sent raw when it is
// a string, as JSON otherwise, and not at all when nil.
func (h *harness) call(ctx context.Context, method, path, token string, body any) (response, error) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			h.t.Fatalf("marshal body: %v", err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, h.srv.URL+path, rd)
	if err != nil {
		h.t.Fatalf("new request: %v", err)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	switch {
	case strings.HasPrefix(token, "Bearer "):
		req.Header.Set("Authorization", token)
	case token != "":
		req.Header.Set("Authtoken", token)
	}
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{}, err
	}
	return response{status: resp.StatusCode, header: resp.Header, body: raw}, nil
}

// do is call that fails the test on a transport error.
func (h *harness) do(method, path, token string, body any) response {
	h.t.Helper()
	r, err := h.call(context.Background(), method, path, token, body)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	return r
}

const api = "/commandcenter/api"

// createTask submits body (default: the fixture) and returns the answer.
func (h *harness) createTask(body any) response {
	h.t.Helper()
	if body == nil {
		body = validTask(h.t)
	}
	return h.do(http.MethodPost, api+"/CreateTask", staticToken, body)
}

// createJob submits the fixture with level for subclient id and returns the job ID.
func (h *harness) createJob(subclientID int, level string) int {
	h.t.Helper()
	doc := validTask(h.t)
	setPath(h.t, doc, "taskInfo.subTasks.0.options.backupOpts.backupLevel", level)
	a := field(field(doc, "taskInfo"), "associations").([]any)[0].(map[string]any)
	sc := h.sim.subByID[subclientID]
	a["subclientId"], a["subclientName"], a["clientName"], a["clientId"] = subclientID, sc.name, sc.clientName, sc.clientID
	a["instanceId"], a["backupsetId"] = sc.instanceID, sc.backupsetID
	a["instanceName"], a["backupsetName"] = sc.instanceName, sc.backupsetName
	r := h.createTask(doc)
	var out struct {
		TaskID int      `json:"taskId"`
		JobIDs []string `json:"jobIds"`
	}
	r.decode(h.t, &out)
	if r.status != http.StatusOK || len(out.JobIDs) != 1 {
		h.t.Fatalf("CreateTask = %d %s, want one job", r.status, r.body)
	}
	id, err := strconv.Atoi(out.JobIDs[0])
	if err != nil {
		h.t.Fatalf("job id %q: %v", out.JobIDs[0], err)
	}
	return id
}

// validTask returns the fixture CreateTask body, decoded.
func validTask(t *testing.T) map[string]any {
	t.Helper()
	raw, err := os.ReadFile("testdata/createtask.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

// setPath sets (or, with value deleteKey, removes) a dotted path such as
// "taskInfo.associations.0._type_" in a decoded JSON document.
func setPath(t *testing.T, doc any, path string, value any) {
	t.Helper()
	keys := strings.Split(path, ".")
	cur := doc
	for i, k := range keys {
		last := i == len(keys)-1
		switch c := cur.(type) {
		case map[string]any:
			if last {
				if value == deleteKey {
					delete(c, k)
				} else {
					c[k] = value
				}
				return
			}
			cur = c[k]
		case []any:
			n, err := strconv.Atoi(k)
			if err != nil || n >= len(c) {
				t.Fatalf("setPath %q: bad index %q", path, k)
			}
			if last {
				c[n] = value
				return
			}
			cur = c[n]
		default:
			t.Fatalf("setPath %q: %q is not a container", path, k)
		}
	}
}

// deleteKey as a setPath value removes the key.
const deleteKey = "\x00delete"

// errorAnswer decodes a Commvault errorCode answer.
func errorAnswer(t *testing.T, r response) errorBody {
	t.Helper()
	var e errorBody
	r.decode(t, &e)
	return e
}
