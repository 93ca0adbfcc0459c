package slacktest

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack"
)

func newAPI(srv *Server, token string) *slack.Client {
	return slack.New(token, slack.OptionAPIURL(srv.APIURL()))
}

func TestPostUpdateAndThread(t *testing.T) {
	srv := newServer(t, Config{})
	api := newAPI(srv, srv.BotToken())
	ctx := testContext(t)

	section := slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, "*prod* / *orders*", false, false), nil, nil)
	ch, parent, err := api.PostMessageContext(ctx, "C01OPS",
		slack.MsgOptionText("backup of prod/orders requested", false), slack.MsgOptionBlocks(section))
	if err != nil || ch != "C01OPS" || parent == "" {
		t.Fatalf("PostMessage = %q, %q, %v", ch, parent, err)
	}
	_, reply, err := api.PostMessageContext(ctx, "C01OPS", slack.MsgOptionText("task 42, jobs 7, 8", false), slack.MsgOptionTS(parent))
	if err != nil {
		t.Fatalf("PostMessage reply: %v", err)
	}
	if reply <= parent {
		t.Errorf("reply ts %q not after parent ts %q", reply, parent)
	}
	_, _, text, err := api.UpdateMessageContext(ctx, "C01OPS", parent,
		slack.MsgOptionText("approved by <@U02BOB>", false), slack.MsgOptionBlocks())
	if err != nil || text != "approved by <@U02BOB>" {
		t.Fatalf("UpdateMessage = %q, %v", text, err)
	}

	msgs := srv.Messages("C01OPS")
	if len(msgs) != 2 {
		t.Fatalf("Messages = %+v, want parent and reply", msgs)
	}
	if m := msgs[0]; m.TS != parent || m.Text != "approved by <@U02BOB>" || m.Blocks != nil || m.Updated != 1 || m.User != "U0BOT" {
		t.Errorf("parent = %+v, want updated text, blocks cleared", m)
	}
	thread := srv.Thread("C01OPS", parent)
	if len(thread) != 1 || thread[0].TS != reply || thread[0].ThreadTS != parent || thread[0].Text != "task 42, jobs 7, 8" {
		t.Errorf("Thread = %+v, want the reply", thread)
	}
	posts := srv.Calls("chat.postMessage")
	if len(posts) != 2 || posts[0].Token != "xoxb-test" || posts[1].Params.Get("thread_ts") != parent {
		t.Errorf("chat.postMessage calls = %+v", posts)
	}
	var blocks []map[string]any
	if err := json.Unmarshal([]byte(posts[0].Params.Get("blocks")), &blocks); err != nil || len(blocks) != 1 || blocks[0]["type"] != "section" {
		t.Errorf("recorded blocks %q: %v", posts[0].Params.Get("blocks"), err)
	}
	if posts[0].Params.Has("token") {
		t.Error("recorded params keep the token")
	}
	// An update that leaves the blocks out keeps them.
	_, _, _, err = api.UpdateMessageContext(ctx, "C01OPS", reply, slack.MsgOptionBlocks(section))
	if err == nil {
		_, _, _, err = api.UpdateMessageContext(ctx, "C01OPS", reply, slack.MsgOptionText("task 42 done", false))
	}
	if m, found := srv.Message("C01OPS", reply); err != nil || !found || m.Blocks == nil || m.Text != "task 42 done" || m.Updated != 2 {
		t.Errorf("reply after two updates = %+v, %v", m, err)
	}
}

func TestWebAPIErrors(t *testing.T) {
	srv := newServer(t, Config{})
	ctx := testContext(t)
	api := newAPI(srv, srv.BotToken())

	for _, tt := range []struct {
		name string
		call func() error
		want string
	}{
		{"update unknown ts", func() error {
			_, _, _, err := api.UpdateMessageContext(ctx, "C01OPS", "1.000001", slack.MsgOptionText("x", false))
			return err
		}, "message_not_found"},
		{"post without text", func() error {
			_, _, err := api.PostMessageContext(ctx, "C01OPS")
			return err
		}, "no_text"},
		{"wrong bot token", func() error {
			_, err := newAPI(srv, "xoxb-wrong").AuthTestContext(ctx)
			return err
		}, "invalid_auth"},
		{"app token on a bot method", func() error {
			_, err := newAPI(srv, srv.AppToken()).AuthTestContext(ctx)
			return err
		}, "not_allowed_token_type"},
		{"no token", func() error {
			_, err := newAPI(srv, "").AuthTestContext(ctx)
			return err
		}, "not_authed"},
		{"unknown user group", func() error {
			_, err := api.GetUserGroupMembersContext(ctx, "S0NONE")
			return err
		}, "no_such_subteam"},
		{"unknown method", func() error {
			_, err := api.GetConversationInfoContext(ctx, &slack.GetConversationInfoInput{ChannelID: "C01OPS"})
			return err
		}, "unknown_method"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			var se slack.SlackErrorResponse
			if !errors.As(err, &se) || se.Err != tt.want {
				t.Errorf("err = %v, want %s", err, tt.want)
			}
		})
	}
	if got := srv.Calls("auth.test"); len(got) != 3 || got[0].Error != "invalid_auth" {
		t.Errorf("auth.test calls = %+v, want 3 recorded with their errors", got)
	}
}

func TestUsersAndGroups(t *testing.T) {
	srv := newServer(t, Config{
		UserGroups: map[string][]string{"S02SRELEADS": {"U02BOB", "U03CAROL"}},
		Users:      map[string]User{"U02BOB": {Name: "bob", RealName: "Bob Builder", Email: "bob@corp.example"}},
	})
	api := newAPI(srv, srv.BotToken())
	ctx := testContext(t)

	members, err := api.GetUserGroupMembersContext(ctx, "S02SRELEADS")
	if err != nil || !slices.Equal(members, []string{"U02BOB", "U03CAROL"}) {
		t.Errorf("GetUserGroupMembers = %v, %v", members, err)
	}
	srv.SetUserGroup("S02SRELEADS", []string{"U03CAROL"})
	if members, err = api.GetUserGroupMembersContext(ctx, "S02SRELEADS"); err != nil || !slices.Equal(members, []string{"U03CAROL"}) {
		t.Errorf("after SetUserGroup: %v, %v", members, err)
	}
	if got := srv.Calls("usergroups.users.list")[0].Params.Get("usergroup"); got != "S02SRELEADS" {
		t.Errorf("recorded usergroup = %q", got)
	}

	bob, err := api.GetUserInfoContext(ctx, "U02BOB")
	if err != nil || bob.ID != "U02BOB" || bob.Name != "bob" || bob.RealName != "Bob Builder" || bob.Profile.Email != "bob@corp.example" || bob.TeamID != "T0TEAM" {
		t.Errorf("GetUserInfo(U02BOB) = %+v, %v", bob, err)
	}
	stranger, err := api.GetUserInfoContext(ctx, "U09ZED")
	if err != nil || stranger.ID != "U09ZED" || stranger.Name == "" || stranger.RealName == "" || stranger.IsBot || stranger.Deleted {
		t.Errorf("GetUserInfo(unknown) = %+v, %v; want a plausible default", stranger, err)
	}

	auth, err := api.AuthTestContext(ctx)
	if err != nil || auth.UserID != "U0BOT" || auth.TeamID != "T0TEAM" || auth.BotID != "B0BOT" || auth.URL == "" {
		t.Errorf("AuthTest = %+v, %v", auth, err)
	}
}

func TestPostEphemeral(t *testing.T) {
	srv := newServer(t, Config{})
	api := newAPI(srv, srv.BotToken())
	ctx := testContext(t)

	ts, err := api.PostEphemeralContext(ctx, "C01OPS", "U01ALICE", slack.MsgOptionText("you may not approve your own request", false))
	if err != nil || ts == "" {
		t.Fatalf("PostEphemeral = %q, %v", ts, err)
	}
	got := srv.Ephemerals("U01ALICE")
	want := Ephemeral{Channel: "C01OPS", User: "U01ALICE", TS: ts, Text: "you may not approve your own request", Via: "chat.postEphemeral", At: got[0].At}
	if len(got) != 1 || !equalEphemeral(got[0], want) {
		t.Errorf("Ephemerals = %+v, want %+v", got, want)
	}
	if len(srv.Messages("C01OPS")) != 0 || len(srv.Ephemerals("U02BOB")) != 0 {
		t.Error("an ephemeral message leaked into the channel or to another user")
	}
}

func equalEphemeral(a, b Ephemeral) bool {
	return a.Channel == b.Channel && a.User == b.User && a.TS == b.TS && a.ThreadTS == b.ThreadTS &&
		a.Text == b.Text && string(a.Blocks) == string(b.Blocks) && a.Via == b.Via && a.At.Equal(b.At)
}

func TestRateLimitAndFailures(t *testing.T) {
	srv := newServer(t, Config{})
	api := newAPI(srv, srv.BotToken())
	ctx := testContext(t)
	post := func() error {
		_, _, err := api.PostMessageContext(ctx, "C01OPS", slack.MsgOptionText("hi", false))
		return err
	}

	srv.RateLimit("chat.postMessage", 2, 1500*time.Millisecond)
	for i := range 2 {
		var rl *slack.RateLimitedError
		if err := post(); !errors.As(err, &rl) || rl.RetryAfter != 2*time.Second {
			t.Errorf("call %d: err = %v, want RateLimitedError after 2s", i, err)
		}
	}
	srv.FailMethod("chat.postMessage", "channel_not_found", 1)
	var se slack.SlackErrorResponse
	if err := post(); !errors.As(err, &se) || se.Err != "channel_not_found" {
		t.Errorf("injected failure: err = %v", err)
	}
	if err := post(); err != nil {
		t.Errorf("after the faults: %v", err)
	}
	var statuses []int
	for _, c := range srv.Calls("chat.postMessage") {
		statuses = append(statuses, c.Status)
	}
	if !slices.Equal(statuses, []int{429, 429, 200, 200}) {
		t.Errorf("statuses = %v", statuses)
	}
	if n := len(srv.Messages("C01OPS")); n != 1 {
		t.Errorf("messages = %d, want 1", n)
	}

	srv.FailMethod("users.info", "user_not_found", -1)
	for range 3 {
		if _, err := api.GetUserInfoContext(ctx, "U1"); err == nil || err.Error() != "user_not_found" {
			t.Errorf("persistent failure: err = %v", err)
		}
	}
	srv.FailMethod("users.info", "", 0)
	if _, err := api.GetUserInfoContext(ctx, "U1"); err != nil {
		t.Errorf("after clearing: %v", err)
	}
}

func TestRawRequests(t *testing.T) {
	srv := newServer(t, Config{})
	client := &http.Client{Timeout: waitTimeout}
	t.Cleanup(client.CloseIdleConnections)
	do := func(req *http.Request) map[string]any {
		t.Helper()
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		var out map[string]any
		if err := json.Unmarshal(body, &out); err != nil {
			t.Fatalf("%s: body %q: %v", req.URL, body, err)
		}
		return out
	}

	// JSON body with a Bearer token.
	req, _ := http.NewRequest(http.MethodPost, srv.APIURL()+"chat.postMessage",
		strings.NewReader(`{"channel":"C1","text":"json","blocks":[{"type":"divider"}],"unfurl_links":false}`))
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("Authorization", "Bearer xoxb-test")
	if out := do(req); out["ok"] != true {
		t.Errorf("JSON post: %v", out)
	}
	call := srv.Calls("chat.postMessage")[0]
	if call.Token != "xoxb-test" || call.Params.Get("blocks") != `[{"type":"divider"}]` || call.Params.Get("unfurl_links") != "false" {
		t.Errorf("JSON call recorded as %+v", call)
	}

	// GET with the token in the query.
	req, _ = http.NewRequest(http.MethodGet, srv.APIURL()+"usergroups.users.list?"+url.Values{"token": {"xoxb-test"}, "usergroup": {"S1"}}.Encode(), nil)
	if out := do(req); out["error"] != "no_such_subteam" {
		t.Errorf("GET: %v", out)
	}

	// apps.connections.open wants the app token as a Bearer header.
	req, _ = http.NewRequest(http.MethodPost, srv.APIURL()+"apps.connections.open", nil)
	if out := do(req); out["error"] != "not_authed" {
		t.Errorf("open without token: %v", out)
	}
	req, _ = http.NewRequest(http.MethodPost, srv.APIURL()+"apps.connections.open", nil)
	req.Header.Set("Authorization", "Bearer xapp-1-test")
	out := do(req)
	u, _ := out["url"].(string)
	if !strings.HasPrefix(u, "ws://127.0.0.1:") || !strings.Contains(u, "/link/?ticket=") || !strings.HasSuffix(u, "&app_id=A0APP") {
		t.Errorf("open: %v", out)
	}
}

func TestConcurrentPostsGetIncreasingTimestamps(t *testing.T) {
	srv := newServer(t, Config{})
	api := newAPI(srv, srv.BotToken())
	ctx := testContext(t)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			if _, _, err := api.PostMessageContext(ctx, "C1", slack.MsgOptionText("m", false)); err != nil {
				t.Errorf("post %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	msgs := srv.Messages("C1")
	if len(msgs) != 20 {
		t.Fatalf("messages = %d, want 20", len(msgs))
	}
	for i := 1; i < len(msgs); i++ {
		if msgs[i].TS <= msgs[i-1].TS {
			t.Errorf("ts %q after %q: not increasing", msgs[i].TS, msgs[i-1].TS)
		}
	}
}

// Every answer to the bot token carries its scopes in X-OAuth-Scopes, as
// Slack's do; answers to other tokens do not.
func TestScopesHeader(t *testing.T) {
	scopes := func(srv *Server, method, token string) (string, bool) {
		t.Helper()
		var got []string
		api := slack.New(token, slack.OptionAPIURL(srv.APIURL()), slack.OptionAppLevelToken(token),
			slack.OptionOnResponseHeaders(func(path string, h http.Header) {
				if path == method {
					got = h.Values("X-OAuth-Scopes")
				}
			}))
		ctx := testContext(t)
		if method == "apps.connections.open" {
			_, _, _ = api.StartSocketModeContext(ctx)
		} else {
			_, _ = api.AuthTestContext(ctx)
		}
		if len(got) == 0 {
			return "", false
		}
		return got[0], true
	}
	srv := newServer(t, Config{})
	for _, tt := range []struct {
		name, method, token string
		want                string
		sent                bool
	}{
		{"bot token", "auth.test", srv.BotToken(), "commands,chat:write,usergroups:read", true},
		{"wrong bot token", "auth.test", "xoxb-wrong", "", false},
		{"app token", "apps.connections.open", srv.AppToken(), "", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got, sent := scopes(srv, tt.method, tt.token); got != tt.want || sent != tt.sent {
				t.Errorf("X-OAuth-Scopes = %q (sent %v), want %q (sent %v)", got, sent, tt.want, tt.sent)
			}
		})
	}

	few := newServer(t, Config{Scopes: []string{"chat:write"}})
	if got, _ := scopes(few, "auth.test", few.BotToken()); got != "chat:write" {
		t.Errorf("X-OAuth-Scopes with Scopes [chat:write] = %q", got)
	}
	none := newServer(t, Config{Scopes: []string{}})
	if got, sent := scopes(none, "auth.test", none.BotToken()); got != "" || !sent {
		t.Errorf("X-OAuth-Scopes with no scope = %q (sent %v), want an empty header", got, sent)
	}
}
