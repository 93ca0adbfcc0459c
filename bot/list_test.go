package bot

import (
	"strings"
	"testing"
)

func TestHelp(t *testing.T) {
	for _, text := range []string{"", "help", "HELP"} {
		e := newEnv(t)
		e.do("U0GROUPIE", "C0OPS", text)
		eph := e.chat.all("ephemeral")
		if len(eph) != 1 {
			t.Fatalf("Handle(%q): ephemeral = %+v", text, eph)
		}
		contains(t, "help", eph[0].Msg.Text, "/backup dynamodb", "/backup status", "/backup list", "demo, staging, prod", "Example:")
	}
}

func TestList(t *testing.T) {
	tests := []struct {
		name, user, channel, text string
		want, notWant             []string
	}{
		{"everything the caller may", "U0ALICE", "C0OPS", "list",
			[]string{"*demo*", "customer profiles", "*staging*", "sessions", "*prod*", "needs approval", "orders, payments"}, []string{"inventory"}},
		{"one account", "U0ALICE", "C0OPS", "list staging", []string{"*staging*", "sessions"}, []string{"*demo*"}},
		{"channel rule hides staging", "U0ALICE", "C0ELSEWHERE", "list", []string{"*demo*", "*prod*"}, []string{"*staging*"}},
		{"stranger sees only the open account", "U0NOBODY", "C0OPS", "list", []string{"*demo*"}, []string{"*staging*", "*prod*"}},
		{"account the caller may not use", "U0NOBODY", "C0OPS", "list prod", []string{"may not back up *prod*"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.do(tt.user, tt.channel, tt.text)
			eph := e.chat.all("ephemeral")
			if len(eph) != 1 {
				t.Fatalf("ephemeral = %+v", eph)
			}
			contains(t, "list", eph[0].Msg.Text, tt.want...)
			for _, nw := range tt.notWant {
				if strings.Contains(eph[0].Msg.Text, nw) {
					t.Errorf("list = %q, want no %q", eph[0].Msg.Text, nw)
				}
			}
		})
	}
}

func TestClickOnUnknownRequest(t *testing.T) {
	e := newEnv(t)
	e.bot.Click(t.Context(), Click{User: "U0LEAD", Channel: "C0OPS", MessageTS: "1.2", ActionID: ActionApprove, Value: "r-1a2b3c"})
	eph := e.chat.all("ephemeral")
	if len(eph) != 1 || eph[0].User != "U0LEAD" {
		t.Fatalf("ephemeral = %+v", eph)
	}
	contains(t, "click answer", eph[0].Msg.Text, "no request r-1a2b3c", "Nothing was changed")
	if e.createTasks() != 0 || len(e.chat.all("post")) != 0 {
		t.Error("a click changed something")
	}
}
