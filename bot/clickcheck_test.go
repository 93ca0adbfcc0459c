package bot

import (
	"context"
	"testing"

	"github.com/backupbot/backupbot/bot/store"
)

// A click counts only on the request's own card: the same button value on
// another message, or in another channel, does nothing.
func TestClickMustBeOnTheRequestsCard(t *testing.T) {
	tests := []struct {
		name             string
		channel, message func(card sent) string
	}{
		{"another message", func(c sent) string { return c.Channel }, func(sent) string { return "1764237600.999999" }},
		{"another channel", func(sent) string { return "C0ELSEWHERE" }, func(c sent) string { return c.TS }},
		{"no message", func(c sent) string { return c.Channel }, func(sent) string { return "" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			card := e.request(t, "orders")
			id := cardButtons(card.Msg)[ActionApprove]
			e.bot.Click(t.Context(), Click{User: "U0LEAD", Channel: tt.channel(card), MessageTS: tt.message(card),
				ActionID: ActionApprove, Value: id})
			rec, _ := e.store.Get(t.Context(), id)
			if n := e.createTasks(); n != 0 || rec.State != store.Pending || len(e.chat.all("update")) != 0 {
				t.Fatalf("CreateTasks %d, state %s, updates %d; want none, pending, none", n, rec.State, len(e.chat.all("update")))
			}
			eph := e.chat.all("ephemeral")
			if len(eph) != 1 || eph[0].User != "U0LEAD" {
				t.Fatalf("ephemerals = %+v", eph)
			}
			contains(t, "answer", eph[0].Msg.Text, "not on the card of request "+id, "Nothing was changed")
			if !hasEvent(e.auditOf(t, id), "click-refused", ruleCard) {
				t.Errorf("audit = %+v, want a refused click with rule card", e.auditOf(t, id))
			}
			e.click(card, "U0LEAD", ActionApprove) // its own card still works
			if n := e.createTasks(); n != 1 {
				t.Errorf("CreateTasks = %d after a click on the card, want 1", n)
			}
		})
	}
}

// A click counts only from this workspace and this app (and organisation).
func TestClickMustComeFromThisWorkspaceAndApp(t *testing.T) {
	here := Workspace{TeamID: "T0TEAM", EnterpriseID: "E0ORG", AppID: "A0APP"}
	tests := []struct {
		name              string
		team, app, enterp string
		allowed           bool
	}{
		{"this workspace and app", "T0TEAM", "A0APP", "E0ORG", true},
		{"another workspace", "T0OTHER", "A0APP", "E0ORG", false},
		{"another app", "T0TEAM", "A0OTHER", "E0ORG", false},
		{"another organisation", "T0TEAM", "A0APP", "E0OTHER", false},
		{"no organisation", "T0TEAM", "A0APP", "", false},
		{"nothing said", "", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.bot.workspace, e.bot.app = here, here.AppID
			card := e.request(t, "orders")
			id := cardButtons(card.Msg)[ActionApprove]
			e.bot.Click(t.Context(), Click{User: "U0LEAD", Channel: card.Channel, MessageTS: card.TS, ActionID: ActionApprove,
				Value: id, TeamID: tt.team, AppID: tt.app, EnterpriseID: tt.enterp})
			if got := e.createTasks() == 1; got != tt.allowed {
				t.Fatalf("submitted = %v, want %v", got, tt.allowed)
			}
			if tt.allowed {
				return
			}
			rec, _ := e.store.Get(t.Context(), id)
			if rec.State != store.Pending || len(e.chat.all("update")) != 0 {
				t.Errorf("state %s, updates %d; want pending and the card unchanged", rec.State, len(e.chat.all("update")))
			}
			contains(t, "answer", e.chat.all("ephemeral")[0].Msg.Text, "did not come from the Slack workspace and app")
			if !hasEvent(e.auditOf(t, ""), "click-refused", ruleWorkspace) {
				t.Errorf("audit = %+v, want a refused click with rule workspace", e.auditOf(t, ""))
			}
		})
	}
}

// Without an app ID configured, the app is the one the first socket-mode
// hello names; until a hello came, no click counts (fail closed), and a
// connection of another app changes nothing.
func TestClickAppLearnedFromHello(t *testing.T) {
	e := newEnv(t)
	e.bot.workspace = Workspace{TeamID: "T0TEAM"}
	card := e.request(t, "orders")
	id := cardButtons(card.Msg)[ActionApprove]
	click := Click{User: "U0LEAD", Channel: card.Channel, MessageTS: card.TS, ActionID: ActionApprove, Value: id,
		TeamID: "T0TEAM", AppID: "A0APP"}
	e.bot.Click(context.Background(), click)
	if n := e.createTasks(); n != 0 {
		t.Fatalf("CreateTasks = %d before any hello named the app", n)
	}
	e.bot.learnApp("A0APP")
	e.bot.learnApp("A0OTHER") // ignored, logged
	other := click
	other.AppID = "A0OTHER"
	e.bot.Click(context.Background(), other)
	if n := e.createTasks(); n != 0 {
		t.Fatalf("CreateTasks = %d after a click for another app", n)
	}
	e.bot.Click(context.Background(), click)
	if n := e.createTasks(); n != 1 {
		t.Errorf("CreateTasks = %d after the hello, want 1", n)
	}
}
