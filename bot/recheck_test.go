package bot

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/backupbot/backupbot/auth"
	"github.com/backupbot/backupbot/bot/store"
)

// reloaded is the test policy as a SIGHUP would reload it: prod changed
// by change (the whole of prod's entry after "  prod:").
func reloaded(t *testing.T, prod string) *auth.Policy {
	t.Helper()
	src := `groups:
  S0ONCALL: [U0GROUPIE]
  S0LEADS: [U0LEAD]
accounts:
  demo:
    client: aws-demo-account
    requesters: ["*"]
`
	if prod != "" {
		src += "  prod:\n" + prod
	}
	pol, err := auth.Parse("reloaded.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return pol
}

// auditOf lists the audit trail's events of request id (all when "").
func (e *env) auditOf(t *testing.T, id string) []store.Event {
	t.Helper()
	events, err := e.store.AuditSince(t.Context(), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	var out []store.Event
	for _, ev := range events {
		if id == "" || ev.RequestID == id {
			out = append(out, ev)
		}
	}
	return out
}

func hasEvent(events []store.Event, action, rule string) bool {
	for _, ev := range events {
		if ev.Action == action && ev.Rule == rule {
			return true
		}
	}
	return false
}

// The request itself is checked again at the click: an approval of a
// request the policy of now refuses does not run it, and ends it.
func TestApprovalChecksTheRequestAgain(t *testing.T) {
	const prod = "    client: aws-prod-account\n    requesters: [U0ALICE, S0ONCALL]\n    approvers: [S0LEADS]\n"
	tests := []struct {
		name    string
		asker   string
		change  func(e *env)
		rule    string
		problem string // on the card
	}{
		{"requester offboarded from the user group", "U0GROUPIE", func(e *env) {
			e.bot.groups = auth.StaticGroups(map[string][]string{"S0ONCALL": {}, "S0LEADS": {"U0LEAD"}})
		}, auth.RuleRequesters, "the requester may no longer request backups of prod"},
		{"requester removed by a reload", "U0ALICE", func(e *env) {
			e.pol = reloaded(t, strings.Replace(prod, "U0ALICE, ", "", 1))
		}, auth.RuleRequesters, "the requester may no longer request backups of prod"},
		{"channel no longer allowed", "U0ALICE", func(e *env) { e.pol = reloaded(t, prod+"    channels: [C0ELSEWHERE]\n") },
			auth.RuleChannels, "prod may no longer be backed up from this channel"},
		{"table group no longer allowed", "U0ALICE", func(e *env) { e.pol = reloaded(t, prod+"    tablegroups: [payments]\n") },
			auth.RuleTableGroups, "table group orders is no longer allowed for prod"},
		{"level no longer allowed", "U0ALICE", func(e *env) { e.pol = reloaded(t, prod+"    levels: [incremental]\n") },
			auth.RuleLevels, "full backups are no longer allowed for prod"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.do(tt.asker, "C0OPS", "dynamodb prod orders full before the migration")
			card := e.chat.all("post")[0]
			id := cardButtons(card.Msg)[ActionApprove]
			tt.change(e)
			e.click(card, "U0LEAD", ActionApprove)
			if n := e.createTasks(); n != 0 {
				t.Fatalf("CreateTasks = %d after approving a request the policy no longer allows", n)
			}
			rec, err := e.store.Get(t.Context(), id)
			if err != nil {
				t.Fatal(err)
			}
			if rec.State != store.Rejected || rec.DecidedBy != actorBot || rec.Problem != tt.problem {
				t.Errorf("request = %s by %q (%q), want rejected by %s: %q", rec.State, rec.DecidedBy, rec.Problem, actorBot, tt.problem)
			}
			contains(t, "card", e.lastUpdate(t, card.TS).Text, "no longer allowed: "+tt.problem)
			if len(cardButtons(e.lastUpdate(t, card.TS))) != 0 {
				t.Error("the card still has its buttons")
			}
			replies := e.chat.all("reply")
			contains(t, "thread", replies[len(replies)-1].Msg.Text, "No longer allowed", "<@U0LEAD>'s approval did not run it")
			eph := e.chat.all("ephemeral")
			if len(eph) != 1 || eph[0].User != "U0LEAD" {
				t.Fatalf("ephemerals = %+v, want one to the approver", eph)
			}
			contains(t, "answer", eph[0].Msg.Text, "can no longer run", tt.problem)
			events := e.auditOf(t, id)
			if !hasEvent(events, "click-refused", tt.rule) || !hasEvent(events, "rejected", tt.rule) {
				t.Errorf("audit = %+v, want click-refused and rejected with rule %s", events, tt.rule)
			}
			// The table group is free again: a new request may be made.
			e.pol = reloaded(t, prod)
			e.bot.groups = auth.StaticGroups(e.pol.Groups)
			e.do("U0ALICE", "C0OPS", "dynamodb prod orders full again")
			if n := len(e.chat.all("post")); n != 2 {
				t.Errorf("posts = %d, want a second card", n)
			}
		})
	}
}

// Only an approver's click checks the request: anyone else is refused as
// before and the request stays as it is.
func TestNonApproverCannotEndARequest(t *testing.T) {
	e := newEnv(t)
	card := e.request(t, "orders")
	e.pol = reloaded(t, "    client: aws-prod-account\n    requesters: [U0OTHER]\n    approvers: [S0LEADS]\n")
	e.click(card, "U0GROUPIE", ActionApprove)
	rec, _ := e.store.Get(t.Context(), cardButtons(card.Msg)[ActionApprove])
	if rec.State != store.Pending || len(e.chat.all("update")) != 0 {
		t.Errorf("state %s, updates %d; want pending and the card unchanged", rec.State, len(e.chat.all("update")))
	}
	contains(t, "answer", e.chat.all("ephemeral")[0].Msg.Text, "may not approve")
}

// A deny runs nothing: it is not refused because the request no longer is
// allowed.
func TestDenyOfARequestNoLongerAllowed(t *testing.T) {
	e := newEnv(t)
	card := e.request(t, "orders")
	e.pol = reloaded(t, "    client: aws-prod-account\n    requesters: [U0OTHER]\n    approvers: [S0LEADS]\n")
	e.click(card, "U0LEAD", ActionDeny)
	rec, _ := e.store.Get(t.Context(), cardButtons(card.Msg)[ActionDeny])
	if rec.State != store.Rejected || rec.DecidedBy != "U0LEAD" {
		t.Errorf("state %s by %s, want rejected by U0LEAD", rec.State, rec.DecidedBy)
	}
}

// failingGroups fails every lookup while fail is set.
type failingGroups struct {
	mu   sync.Mutex
	fail bool
	ok   auth.GroupLookup
}

func (f *failingGroups) Members(ctx context.Context, id string) ([]string, error) {
	f.mu.Lock()
	fail := f.fail
	f.mu.Unlock()
	if fail {
		return nil, errors.New("usergroups.users.list: ratelimited")
	}
	return f.ok.Members(ctx, id)
}

// A failed lookup says nothing of the request: it stays pending, the
// approver is told to click again, and a later click runs it.
func TestRecheckWithAFailedLookupKeepsTheRequest(t *testing.T) {
	e := newEnv(t)
	e.do("U0GROUPIE", "C0OPS", "dynamodb prod orders full") // a requester through S0ONCALL
	card := e.chat.all("post")[0]
	// The approver is listed by ID, so only the request's check needs a lookup.
	e.pol = reloaded(t, "    client: aws-prod-account\n    requesters: [S0ONCALL]\n    approvers: [U0LEAD]\n")
	groups := &failingGroups{fail: true, ok: auth.StaticGroups(e.pol.Groups)}
	e.bot.groups = groups
	e.click(card, "U0LEAD", ActionApprove)
	rec, _ := e.store.Get(t.Context(), cardButtons(card.Msg)[ActionApprove])
	if rec.State != store.Pending || e.createTasks() != 0 || len(e.chat.all("update")) != 0 {
		t.Fatalf("state %s, CreateTasks %d, updates %d; want pending, none, none", rec.State, e.createTasks(), len(e.chat.all("update")))
	}
	contains(t, "answer", e.chat.all("ephemeral")[0].Msg.Text, "could not check", "click again")
	if !hasEvent(e.auditOf(t, rec.ID), "click-refused", auth.RuleGroupLookup) {
		t.Error("the refused click is not in the audit trail")
	}
	groups.mu.Lock()
	groups.fail = false
	groups.mu.Unlock()
	e.click(card, "U0LEAD", ActionApprove)
	if n := e.createTasks(); n != 1 {
		t.Errorf("CreateTasks = %d after the lookup works again, want 1", n)
	}
}

// Recovery checks an approved request again before it submits it.
func TestRecoveryChecksTheApprovedRequestAgain(t *testing.T) {
	e := newEnv(t)
	e.bot.store = stuckStore{e.store}
	card := e.request(t, "orders")
	e.click(card, "U0LEAD", ActionApprove) // approved; the replica "dies" before sending it
	id := cardButtons(card.Msg)[ActionApprove]
	e.restart(t)
	e.pol = reloaded(t, "    client: aws-prod-account\n    requesters: [U0ALICE]\n    approvers: [S0LEADS]\n    levels: [incremental]\n")
	e.clock.Advance(holdTTL + time.Second)
	e.bot.Recover(t.Context())
	if n := e.createTasks(); n != 0 {
		t.Fatalf("CreateTasks = %d: recovery submitted a request the policy no longer allows", n)
	}
	rec, _ := e.store.Get(t.Context(), id)
	if rec.State != store.Rejected || !strings.Contains(rec.Problem, "full backups are no longer allowed") {
		t.Errorf("request = %s (%q), want rejected: full no longer allowed", rec.State, rec.Problem)
	}
	replies := e.chat.all("reply")
	contains(t, "thread", replies[len(replies)-1].Msg.Text, "No longer allowed", "not sent to Commvault")
	if !hasEvent(e.auditOf(t, id), "rejected", auth.RuleLevels) {
		t.Error("the refusal is not in the audit trail with its rule")
	}
}

// A break-glass request recovered after its requester left the break-glass
// list is not submitted.
func TestRecoveryChecksABreakglassRequestAgain(t *testing.T) {
	e := newEnv(t)
	e.bot.store = stuckStore{e.store}
	e.do("U0ALICE", "C0OPS", "emergency dynamodb prod orders full the table is corrupt")
	if n := e.createTasks(); n != 0 {
		t.Fatalf("CreateTasks = %d", n)
	}
	id := cardButtons(e.chat.all("post")[0].Msg)[ActionApprove]
	if id == "" {
		recs, _ := e.store.ByState(t.Context(), store.Approved)
		if len(recs) != 1 {
			t.Fatalf("approved requests = %+v", recs)
		}
		id = recs[0].ID
	}
	e.restart(t)
	e.pol = reloaded(t, "    client: aws-prod-account\n    requesters: [U0ALICE]\n    approvers: [S0LEADS]\n    breakglass: [U0LEAD]\n")
	e.clock.Advance(holdTTL + time.Second)
	e.bot.Recover(t.Context())
	rec, _ := e.store.Get(t.Context(), id)
	if n := e.createTasks(); n != 0 || rec.State != store.Rejected || !strings.Contains(rec.Problem, "break-glass member") {
		t.Errorf("CreateTasks %d, request %s (%q); want none, rejected: no longer a break-glass member", n, rec.State, rec.Problem)
	}
}
