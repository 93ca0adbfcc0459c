package store

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// testForgetInboxField: a response URL in an inbox payload is kept no
// longer than it lives: removed once its item is done, and from an item
// not done once it is older than the window; nothing else changes.
func testForgetInboxField(t *testing.T, su suite) {
	ctx := context.Background()
	c := newClock()
	s, _ := su.open(t, c)
	withURL := func(id string, received time.Duration) InboxItem {
		it := item(id, received)
		it.Payload = []byte(`{"input":{"User":"U0ALICE","Text":"status \"response_url\" 1"},"response_url":"https://hooks.slack.com/commands/T0/` + id + `"}`)
		return it
	}
	put(t, s, withURL("served", 0))
	put(t, s, withURL("waiting-old", 0))
	put(t, s, withURL("waiting-new", 25*time.Minute))
	plain := item("no-url", 0)
	put(t, s, plain)
	done(t, s, "served")
	done(t, s, "no-url")
	if err := s.Refuse(ctx, "refused"); err != nil { // a tombstone: no payload at all
		t.Fatal(err)
	}
	c.advance(31 * time.Minute) // waiting-old is 31 minutes old, waiting-new 6

	n, err := s.ForgetInboxField(ctx, "response_url", 30*time.Minute)
	if err != nil || n != 2 {
		t.Fatalf("ForgetInboxField = %d, %v; want 2 (the done item and the old one), nil", n, err)
	}
	for id, keeps := range map[string]bool{"served": false, "waiting-old": false, "waiting-new": true} {
		p := payload(t, s, id)
		if got := strings.Contains(p, "hooks.slack.com"); got != keeps {
			t.Errorf("%s: payload %s; want the response URL kept: %v", id, p, keeps)
		}
		var fields map[string]json.RawMessage
		if err := json.Unmarshal([]byte(p), &fields); err != nil || !strings.Contains(string(fields["input"]), `status \"response_url\" 1`) {
			t.Errorf("%s: payload %s is not the rest of what was recorded (%v)", id, p, err)
		}
	}
	if p := payload(t, s, "no-url"); p != string(plain.Payload) {
		t.Errorf("no-url: payload %s, want it untouched", p)
	}
	// Once scrubbed, the item is served as before: its input is intact.
	if it, ok := claim(t, s, "waiting-old", "a", time.Minute); !ok || strings.Contains(string(it.Payload), "response_url\":") {
		t.Errorf("claim after the scrub = %v, %s", ok, it.Payload)
	}
	if n, err := s.ForgetInboxField(ctx, "response_url", 30*time.Minute); err != nil || n != 0 {
		t.Errorf("ForgetInboxField again = %d, %v; want 0, nil", n, err)
	}
	if _, err := s.ForgetInboxField(ctx, "", time.Minute); err == nil {
		t.Error("ForgetInboxField without a key: no error")
	}
}

// payload reads an inbox item's payload as stored.
func payload(t *testing.T, s *DB, id string) string {
	t.Helper()
	var p string
	if err := s.db.QueryRowContext(context.Background(), s.q(`SELECT payload FROM inbox WHERE id = ?`), id).Scan(&p); err != nil {
		t.Fatalf("read payload of %s: %v", id, err)
	}
	return p
}
