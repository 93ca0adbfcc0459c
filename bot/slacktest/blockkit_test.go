package slacktest

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/slack-go/slack"
)

// apiCall posts a form to a Web API method with the bot token and returns
// the decoded answer.
func apiCall(t *testing.T, srv *Server, method string, params url.Values) map[string]any {
	t.Helper()
	params.Set("token", srv.BotToken())
	client := &http.Client{Timeout: waitTimeout}
	defer client.CloseIdleConnections()
	resp, err := client.PostForm(srv.APIURL()+method, params)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	return out
}

func messagesOf(out map[string]any) []string {
	md, _ := out["response_metadata"].(map[string]any)
	raw, _ := md["messages"].([]any)
	var msgs []string
	for _, m := range raw {
		msgs = append(msgs, m.(string))
	}
	return msgs
}

// Text objects, sections and buttons as JSON, for the cases below.
func txt(typ, s string) string { return fmt.Sprintf(`{"type":%q,"text":%q}`, typ, s) }

func btnJSON(actionID, text, extra string) string {
	return fmt.Sprintf(`{"type":"button","action_id":%q,"text":%s%s}`, actionID, txt("plain_text", text), extra)
}

func confirmJSON(title, text, textType, yes, no string) string {
	return fmt.Sprintf(`,"confirm":{"title":%s,"text":%s,"confirm":%s,"deny":%s}`,
		txt("plain_text", title), txt(textType, text), txt("plain_text", yes), txt("plain_text", no))
}

func repeat(block string, n int) string {
	return "[" + strings.TrimSuffix(strings.Repeat(block+",", n), ",") + "]"
}

func TestBlockKitLimits(t *testing.T) {
	long := func(n int) string { return strings.Repeat("x", n) }
	section := func(s string) string { return `{"type":"section","text":` + txt("mrkdwn", s) + `}` }
	actions := func(els ...string) string { return `{"type":"actions","elements":[` + strings.Join(els, ",") + `]}` }
	okButton := btnJSON("a", "Approve", "")
	for _, tt := range []struct {
		name, blocks string
		want         string // a line of response_metadata.messages; "" for accepted blocks
	}{
		{"50 blocks", repeat(`{"type":"divider"}`, 50), ""},
		{"51 blocks", repeat(`{"type":"divider"}`, 51), "[ERROR] no more than 50 items allowed [json-pointer:/blocks]"},
		{"section text 3000", "[" + section(long(3000)) + "]", ""},
		{"section text 3001", "[" + section(long(3001)) + "]", "[ERROR] must be less than 3001 characters [json-pointer:/blocks/0/text/text]"},
		{"characters, not bytes", "[" + section(strings.Repeat("é", 3000)) + "]", ""},
		{"entities count as one", "[" + section(strings.Repeat("&amp;", 3000)) + "]", ""},
		{"entities past the limit", "[" + section(strings.Repeat("&lt;", 3001)) + "]", "[ERROR] must be less than 3001 characters [json-pointer:/blocks/0/text/text]"},
		{"empty text", "[" + section("") + "]", "[ERROR] must be more than 0 characters [json-pointer:/blocks/0/text/text]"},
		{"mrkdwn with emoji", `[{"type":"section","text":{"type":"mrkdwn","text":"x","emoji":true}}]`, "[ERROR] invalid additional property: emoji [json-pointer:/blocks/0/text]"},
		{"10 fields of 2000", `[{"type":"section","fields":` + repeat(txt("mrkdwn", long(2000)), 10) + `}]`, ""},
		{"11 fields", `[{"type":"section","fields":` + repeat(txt("mrkdwn", "f"), 11) + `}]`, "[ERROR] no more than 10 items allowed [json-pointer:/blocks/0/fields]"},
		{"field 2001", `[{"type":"section","fields":[` + txt("mrkdwn", long(2001)) + `]}]`, "[ERROR] must be less than 2001 characters [json-pointer:/blocks/0/fields/0/text]"},
		{"section without text", `[{"type":"section"}]`, "[ERROR] missing required field: text [json-pointer:/blocks/0]"},
		{"header 150", `[{"type":"header","text":` + txt("plain_text", long(150)) + `}]`, ""},
		{"header 151", `[{"type":"header","text":` + txt("plain_text", long(151)) + `}]`, "[ERROR] must be less than 151 characters [json-pointer:/blocks/0/text/text]"},
		{"header mrkdwn", `[{"type":"header","text":` + txt("mrkdwn", "*h*") + `}]`, "[ERROR] must be one of: plain_text [json-pointer:/blocks/0/text/type]"},
		{"context 10", `[{"type":"context","elements":` + repeat(txt("mrkdwn", "c"), 10) + `}]`, ""},
		{"context 11", `[{"type":"context","elements":` + repeat(txt("mrkdwn", "c"), 11) + `}]`, "[ERROR] no more than 10 items allowed [json-pointer:/blocks/0/elements]"},
		{"actions 25", `[{"type":"actions","elements":` + repeat(`{"type":"button","text":`+txt("plain_text", "b")+`}`, 25) + `}]`, ""},
		{"actions 26", `[{"type":"actions","elements":` + repeat(`{"type":"button","text":`+txt("plain_text", "b")+`}`, 26) + `}]`, "[ERROR] no more than 25 items allowed [json-pointer:/blocks/0/elements]"},
		{"button text 75", "[" + actions(btnJSON("a", long(75), "")) + "]", ""},
		{"button text 76", "[" + actions(btnJSON("a", long(76), "")) + "]", "[ERROR] must be less than 76 characters [json-pointer:/blocks/0/elements/0/text/text]"},
		{"button text mrkdwn", `[{"type":"actions","elements":[{"type":"button","action_id":"a","text":` + txt("mrkdwn", "*b*") + `}]}]`, "[ERROR] must be one of: plain_text [json-pointer:/blocks/0/elements/0/text/type]"},
		{"button value 2000", "[" + actions(btnJSON("a", "b", fmt.Sprintf(`,"value":%q`, long(2000)))) + "]", ""},
		{"button value 2001", "[" + actions(btnJSON("a", "b", fmt.Sprintf(`,"value":%q`, long(2001)))) + "]", "[ERROR] must be less than 2001 characters [json-pointer:/blocks/0/elements/0/value]"},
		{"action_id 255", "[" + actions(btnJSON(long(255), "b", "")) + "]", ""},
		{"action_id 256", "[" + actions(btnJSON(long(256), "b", "")) + "]", "[ERROR] must be less than 256 characters [json-pointer:/blocks/0/elements/0/action_id]"},
		{"action_id twice in a message", "[" + actions(okButton) + "," + actions(okButton) + "]", "[ERROR] duplicate action_id [json-pointer:/blocks/1/elements/0/action_id]"},
		{"block_id twice", `[{"type":"divider","block_id":"b"},{"type":"divider","block_id":"b"}]`, "[ERROR] duplicate block_id [json-pointer:/blocks/1/block_id]"},
		{"button style", "[" + actions(btnJSON("a", "b", `,"style":"green"`)) + "]", "[ERROR] must be a valid enum value [json-pointer:/blocks/0/elements/0/style]"},
		{"confirm at its limits", "[" + actions(btnJSON("a", "b", confirmJSON(long(100), long(300), "plain_text", long(30), long(30)))) + "]", ""},
		{"confirm title 101", "[" + actions(btnJSON("a", "b", confirmJSON(long(101), "t", "plain_text", "y", "n"))) + "]", "[ERROR] must be less than 101 characters [json-pointer:/blocks/0/elements/0/confirm/title/text]"},
		{"confirm text 301", "[" + actions(btnJSON("a", "b", confirmJSON("t", long(301), "plain_text", "y", "n"))) + "]", "[ERROR] must be less than 301 characters [json-pointer:/blocks/0/elements/0/confirm/text/text]"},
		{"confirm text mrkdwn", "[" + actions(btnJSON("a", "b", confirmJSON("t", "by <@U1>", "mrkdwn", "y", "n"))) + "]", "[ERROR] must be one of: plain_text [json-pointer:/blocks/0/elements/0/confirm/text/type]"},
		{"confirm button 31", "[" + actions(btnJSON("a", "b", confirmJSON("t", "x", "plain_text", long(31), "n"))) + "]", "[ERROR] must be less than 31 characters [json-pointer:/blocks/0/elements/0/confirm/confirm/text]"},
		{"deny button 31", "[" + actions(btnJSON("a", "b", confirmJSON("t", "x", "plain_text", "y", long(31)))) + "]", "[ERROR] must be less than 31 characters [json-pointer:/blocks/0/elements/0/confirm/deny/text]"},
		{"accessory button", `[{"type":"section","text":` + txt("mrkdwn", "s") + `,"accessory":` + btnJSON("a", long(76), "") + `}]`, "[ERROR] must be less than 76 characters [json-pointer:/blocks/0/accessory/text/text]"},
		{"unknown block", `[{"type":"carousel"}]`, "[ERROR] failed to match all allowed schemas [json-pointer:/blocks/0]"},
		{"no type", `[{"text":"x"}]`, "[ERROR] missing required field: type [json-pointer:/blocks/0]"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, Config{})
			out := apiCall(t, srv, "chat.postMessage", url.Values{"channel": {"C1"}, "text": {"fallback"}, "blocks": {tt.blocks}})
			if tt.want == "" {
				if out["ok"] != true {
					t.Fatalf("answer = %v %v, want ok", out["error"], messagesOf(out))
				}
				return
			}
			msgs := messagesOf(out)
			if out["ok"] != false || out["error"] != "invalid_blocks" || !slices.Contains(msgs, tt.want) {
				t.Fatalf("answer = ok %v, %v %q\nwant invalid_blocks with %q", out["ok"], out["error"], msgs, tt.want)
			}
			if len(srv.Messages("C1")) != 0 {
				t.Error("a refused message was posted")
			}
			rej := srv.Rejected()
			if len(rej) != 1 || rej[0].Method != "chat.postMessage" || rej[0].Channel != "C1" ||
				rej[0].Error != "invalid_blocks" || !slices.Equal(rej[0].Messages, msgs) || rej[0].Warning {
				t.Errorf("Rejected() = %+v", rej)
			}
		})
	}
}

// slack-go surfaces Slack's details on SlackErrorResponse; the confirm
// dialog of a Deny button with mrkdwn text is refused, plain_text is not.
func TestConfirmTextMustBePlainText(t *testing.T) {
	srv := newServer(t, Config{})
	api := newAPI(srv, srv.BotToken())
	ctx := testContext(t)
	deny := func(textType string) slack.Block {
		conf := slack.NewConfirmationBlockObject(
			slack.NewTextBlockObject(slack.PlainTextType, "Deny this backup?", false, false),
			slack.NewTextBlockObject(textType, "The backup requested by <@U0ALICE> will not run.", false, false),
			slack.NewTextBlockObject(slack.PlainTextType, "Deny", false, false),
			slack.NewTextBlockObject(slack.PlainTextType, "Keep it", false, false))
		btn := slack.NewButtonBlockElement("backup_deny", "r-1", slack.NewTextBlockObject(slack.PlainTextType, "Deny", false, false)).
			WithStyle(slack.StyleDanger).WithConfirm(conf)
		return slack.NewActionBlock("approval:r-1", btn)
	}
	_, _, err := api.PostMessageContext(ctx, "C0OPS", slack.MsgOptionText("card", false), slack.MsgOptionBlocks(deny(slack.MarkdownType)))
	var se slack.SlackErrorResponse
	if !errors.As(err, &se) || se.Err != "invalid_blocks" ||
		!slices.Contains(se.ResponseMetadata.Messages, "[ERROR] must be one of: plain_text [json-pointer:/blocks/0/elements/0/confirm/text/type]") {
		t.Errorf("mrkdwn confirm text: err = %#v", err)
	}
	if _, _, err := api.PostMessageContext(ctx, "C0OPS", slack.MsgOptionText("card", false), slack.MsgOptionBlocks(deny(slack.PlainTextType))); err != nil {
		t.Errorf("plain_text confirm text: %v", err)
	}
}

func TestMessageTextLimits(t *testing.T) {
	srv := newServer(t, Config{})
	ctx := testContext(t)
	api := newAPI(srv, srv.BotToken())

	// chat.update: at most 4,000 characters (entities count as one).
	_, ts, err := api.PostMessageContext(ctx, "C1", slack.MsgOptionText("parent", false))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		text string
		want string
	}{
		{strings.Repeat("x", 4000), ""},
		{strings.Repeat("&gt;", 4000), ""},
		{strings.Repeat("x", 4001), "msg_too_long"},
	} {
		_, _, _, err := api.UpdateMessageContext(ctx, "C1", ts, slack.MsgOptionText(tt.text, false))
		if got := errString(err); got != tt.want {
			t.Errorf("update with %d bytes: err %q, want %q", len(tt.text), got, tt.want)
		}
	}
	if m, _ := srv.Message("C1", ts); m.Text != strings.Repeat("&gt;", 4000) {
		t.Errorf("text after the refused update: %d bytes", len(m.Text))
	}

	// chat.postMessage cuts text past 40,000 characters and warns.
	out := apiCall(t, srv, "chat.postMessage", url.Values{"channel": {"C1"}, "text": {strings.Repeat("&amp;", 40001)}})
	if out["ok"] != true || out["warning"] != "message_truncated" || !slices.Contains(messagesOf(out), truncatedMessage) {
		t.Errorf("long post: ok %v, warning %v, %q", out["ok"], out["warning"], messagesOf(out))
	}
	msgs := srv.Messages("C1")
	if last := msgs[len(msgs)-1].Text; slackLen(last) != 40000 || last != strings.Repeat("&amp;", 40000) {
		t.Errorf("stored text has %d characters, want the first 40,000", slackLen(last))
	}

	// chat.postEphemeral refuses it.
	_, err = api.PostEphemeralContext(ctx, "C1", "U1", slack.MsgOptionText(strings.Repeat("é", 40001), false))
	if errString(err) != "msg_too_long" {
		t.Errorf("long ephemeral: err = %v, want msg_too_long", err)
	}

	var got []string
	for _, r := range srv.Rejected() {
		got = append(got, fmt.Sprintf("%s %s %s %v", r.Method, r.Channel, r.Error, r.Warning))
	}
	want := []string{"chat.update C1 msg_too_long false", "chat.postMessage C1 message_truncated true", "chat.postEphemeral C1 msg_too_long false"}
	if !slices.Equal(got, want) {
		t.Errorf("Rejected() = %q, want %q", got, want)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestCutText(t *testing.T) {
	for _, tt := range []struct {
		in   string
		n    int
		want string
	}{
		{"abc", 5, "abc"},
		{"abcdef", 3, "abc"},
		{"a&amp;b", 2, "a&amp;"},
		{"ééé", 2, "éé"},
		{"&lt&gt;", 3, "&lt"},
	} {
		got := cutText(tt.in, tt.n)
		if got != tt.want || !utf8.ValidString(got) {
			t.Errorf("cutText(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
}
