package commvault

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/backupbot/backupbot/commvault/simulator"
)

func TestKillJob(t *testing.T) {
	e := newEnv(t, simulator.Config{JobDuration: time.Minute})
	c := e.loginClient(t, nil)
	ctx := context.Background()
	task, err := c.CreateBackup(ctx, prodOrders(), Full)
	if err != nil {
		t.Fatal(err)
	}
	id := task.JobIDs[0]
	e.clock.Advance(20 * time.Second)
	if err := c.KillJob(ctx, id); err != nil {
		t.Fatalf("KillJob of a running job: %v", err)
	}
	reqs := e.sim.Requests()
	last := reqs[len(reqs)-1]
	if last.Method != http.MethodPost || last.Path != "/commandcenter/api/Job/"+id+"/action/kill" || last.Body != nil {
		t.Errorf("kill sent %s %s with body %v, want POST …/Job/%s/action/kill with none", last.Method, last.Path, last.Body, id)
	}
	j, err := c.Job(ctx, id)
	if err != nil || j.Status != "Kill Pending" || j.Terminal() {
		t.Errorf("job right after the kill = %+v, %v; want Kill Pending, not ended", j, err)
	}
	e.clock.Advance(5 * time.Second)
	if j, err = c.Job(ctx, id); err != nil || j.Status != "Killed" || !j.Terminal() || j.Succeeded() {
		t.Errorf("job after the kill = %+v, %v; want Killed", j, err)
	}

	// Killing it again: it has ended, Commvault refuses with an errorCode in a 200.
	err = c.KillJob(ctx, id)
	var ae *APIError
	if !errors.As(err, &ae) || ae.StatusCode != http.StatusOK || ae.Code == 0 || !strings.Contains(ae.Message, "Killed") {
		t.Errorf("KillJob of an ended job = %v, want *APIError 200 with an errorCode naming its state", err)
	}
	if !strings.Contains(err.Error(), "kill job "+id) {
		t.Errorf("error %q does not name the operation", err)
	}
	if n := e.sim.Kills(); n != 1 {
		t.Errorf("simulator took %d kills, want 1", n)
	}
}

func TestKillJobBadID(t *testing.T) {
	e := newEnv(t, simulator.Config{})
	c := e.client(t, nil)
	for _, id := range []string{"", "abc", "0", "-1", "1/action/kill"} {
		if err := c.KillJob(context.Background(), id); !errors.Is(err, ErrJobNotFound) {
			t.Errorf("KillJob(%q) = %v, want ErrJobNotFound", id, err)
		}
	}
	if n := e.count(simulator.OpKill); n != 0 {
		t.Errorf("bad IDs sent %d kills, want 0", n)
	}
}

// Both answer shapes of job actions are read; a nonzero code in either is
// a refusal with its message, zero is a success.
func TestKillJobAnswerShapes(t *testing.T) {
	tests := []struct {
		name, body string
		code       int
		msg        string
	}{
		{"errList zero", `{"errors":[{"errList":[{"errorCode":0,"errLogMessage":""}]}]}`, 0, ""},
		{"flat zero", `{"errorCode":0,"errorMessage":"Kill request sent"}`, 0, ""},
		{"empty", `{}`, 0, ""},
		{"errList refusal", `{"errors":[{"errList":[{"errorCode":7,"errLogMessage":"Job [12] has already completed. "}]}]}`, 7, "Job [12] has already completed."},
		{"flat refusal", `{"errorCode":9,"errorMessage":"User does not have permission to kill job [12]."}`, 9, "User does not have permission to kill job [12]."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := stub(t, func(w http.ResponseWriter, r *http.Request) {
				if r.Method != http.MethodPost || r.URL.Path != "/commandcenter/api/Job/12/action/kill" {
					http.NotFound(w, r)
					return
				}
				fmt.Fprint(w, tt.body)
			})
			err := stubClient(t, base, 5*time.Second).KillJob(context.Background(), "12")
			var ae *APIError
			switch {
			case tt.code == 0 && err != nil:
				t.Errorf("KillJob = %v, want success", err)
			case tt.code != 0 && (!errors.As(err, &ae) || ae.Code != tt.code || ae.Message != tt.msg):
				t.Errorf("KillJob = %v, want errorCode %d %q", err, tt.code, tt.msg)
			}
		})
	}
}

// A kill that timed out after it was sent may have happened: the caller
// is told it does not know.
func TestKillJobOutcomeUnknown(t *testing.T) {
	base := stub(t, func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	})
	err := stubClient(t, base, 200*time.Millisecond).KillJob(context.Background(), "12")
	if !errors.Is(err, ErrOutcomeUnknown) {
		t.Errorf("KillJob that got no answer = %v, want ErrOutcomeUnknown", err)
	}
}
