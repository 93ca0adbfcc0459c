package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

// testAuditedChanges checks that a change's audit event (Change.Event, and
// JobEnded's) is recorded with the change it describes, and only then: a
// transition refused, a job end recorded before and a request that does
// not exist add none.
func testAuditedChanges(t *testing.T, su suite) {
	ctx := context.Background()
	c := newClock()
	s, _ := su.open(t, c)
	create(t, s, request("r1", 3, 12))
	at := t0.Add(time.Minute)

	approved := Event{Actor: "U02BOB", Action: "approved", Rule: "prod.approvers", Account: "prod", TableGroup: "orders",
		Channel: "C01OPS", Detail: "by button"}
	if _, err := s.Transition(ctx, "r1", []State{Pending}, Change{To: Approved, Actor: "U02BOB", At: at,
		Event: &approved}); err != nil {
		t.Fatalf("Transition with an event: %v", err)
	}
	var conflict *ConflictError
	if _, err := s.Transition(ctx, "r1", []State{Pending}, Change{To: Rejected, Actor: "U03CAROL", At: at,
		Event: &Event{Actor: "U03CAROL", Action: "rejected"}}); !errors.As(err, &conflict) {
		t.Fatalf("Transition from a state it is not in = %v; want *ConflictError", err)
	}
	if _, err := s.Transition(ctx, "r1", []State{Approved}, Change{To: Submitting, Actor: "backupbot", At: at}); err != nil {
		t.Fatalf("Transition without an event: %v", err)
	}
	if _, err := s.Transition(ctx, "nope", []State{Pending}, Change{To: Approved, Actor: "U02BOB", At: at,
		Event: &Event{Actor: "U02BOB", Action: "approved"}}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Transition of no request = %v; want ErrNotFound", err)
	}

	ended := Event{At: at.Add(time.Second), Actor: "backupbot", Action: "job-ended", Detail: "job 1001: Completed"}
	for i := range 2 {
		first, _, err := s.JobEnded(ctx, "r1", "1001", "Completed", at, nil, &ended)
		if err != nil || first != (i == 0) {
			t.Fatalf("JobEnded #%d = %v, %v; want %v, nil", i+1, first, err, i == 0)
		}
	}
	if _, _, err := s.JobEnded(ctx, "nope", "1001", "Completed", at, nil, &ended); !errors.Is(err, ErrNotFound) {
		t.Fatalf("JobEnded of no request = %v; want ErrNotFound", err)
	}

	got, err := s.AuditSince(ctx, at)
	if err != nil {
		t.Fatalf("AuditSince: %v", err)
	}
	approved.RequestID, approved.At = "r1", at // the request's, and the change's time
	ended.RequestID = "r1"
	want := []Event{approved, ended}
	ok := len(got) == len(want)
	for i := 0; ok && i < len(got); i++ {
		ok = sameEvent(got[i], want[i])
	}
	if !ok {
		t.Errorf("AuditSince =\n%+v\nwant\n%+v", got, want)
	}
}
