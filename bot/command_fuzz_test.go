package bot

import (
	"errors"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/backupbot/backupbot/commvault"
)

// FuzzParse checks that parse never panics, and that what it accepts is safe
// to store and show: valid UTF-8, no control or invisible characters, no Slack
// special sequence, no live @channel/@here/@everyone, names within limits.
// Run: go test -run='^$' -fuzz=FuzzParse -fuzztime=60s ./bot/
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		"", "help", "dynamodb prod orders full before the schema migration (INC-4711)",
		`dynamodb demo "customer profiles" incr don't`, "dynamodb demo ‘customer profiles’ full",
		"emergency dynamodb prod orders full <@U1|bob> <https://x|y> &lt;!here&gt;",
		"status 12345", "list prod", "cancel r-7f3a9c", "dynamodb prod orders full <!channel>",
		"cancel 149801 eating <@U1|bob>'s capacity", "history prod orders 25", `history demo "customer profiles"`,
		"dynamodb prod <http://a.io|a.io> full @here\r\n\t\u00a0x", "bakup", "prod orders full",
		"dynamodb demo customer profiles full", "dynamodb prod ord\u200bers full",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, text string) {
		cmd, err := parse(text)
		again, err2 := parse(text)
		if cmd != again || (err == nil) != (err2 == nil) {
			t.Fatalf("Parse(%q) is not deterministic: %+v, %v then %+v, %v", text, cmd, err, again, err2)
		}
		if err != nil {
			var ue *usageError
			if !errors.As(err, &ue) || ue.Problem == "" || ue.Usage == "" {
				t.Fatalf("Parse(%q) error = %#v, want a *UsageError with a problem and a usage", text, err)
			}
			if cmd != (command{}) {
				t.Fatalf("Parse(%q) = %+v with an error, want the zero Command", text, cmd)
			}
			if !utf8.ValidString(ue.Problem) || strings.Contains(ue.Problem, "<!") {
				t.Fatalf("Parse(%q) problem = %q, want valid UTF-8 without <!", text, ue.Problem)
			}
			return
		}
		fields := map[string]string{"account": cmd.Account, "table group": cmd.TableGroup, "reason": cmd.Reason,
			"job ID": cmd.JobID, "request ID": cmd.RequestID}
		for name, v := range fields {
			if !utf8.ValidString(v) || strings.Contains(v, "<!") || v != strings.TrimSpace(v) || defuseBroadcasts(v) != v {
				t.Fatalf("Parse(%q) %s = %q: invalid UTF-8, <!, untrimmed or a live broadcast", text, name, v)
			}
			for _, r := range v {
				if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || (unicode.IsSpace(r) && r != ' ') {
					t.Fatalf("Parse(%q) %s = %q holds U+%04X", text, name, v, r)
				}
			}
		}
		n := utf8.RuneCountInString
		switch cmd.Kind {
		case kindBackup, kindEmergency:
			if cmd.Account == "" || cmd.TableGroup == "" || n(cmd.Account) > maxAccountLen || n(cmd.TableGroup) > maxTableGroupLen {
				t.Fatalf("Parse(%q) names %q / %q: empty or too long", text, cmd.Account, cmd.TableGroup)
			}
			if cmd.Level != commvault.Full && cmd.Level != commvault.Incremental {
				t.Fatalf("Parse(%q) level = %q", text, cmd.Level)
			}
			if n(cmd.Reason) > maxReasonLen || (cmd.Kind == kindEmergency && cmd.Reason == "") {
				t.Fatalf("Parse(%q) reason = %q: too long or missing", text, cmd.Reason)
			}
			for _, v := range []string{cmd.Account, cmd.TableGroup} {
				for _, r := range v {
					if !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != ' ' && !strings.ContainsRune(nameSymbols, r) {
						t.Fatalf("Parse(%q) name %q holds %q", text, v, r)
					}
				}
			}
		case kindStatus:
			if cmd.JobID == "" || len(cmd.JobID) > maxJobIDLen || strings.Trim(cmd.JobID, "0123456789") != "" {
				t.Fatalf("Parse(%q) job ID = %q", text, cmd.JobID)
			}
		case kindCancel:
			byRequest := cmd.RequestID != "" && len(cmd.RequestID) <= maxRequestIDLen && strings.Trim(cmd.RequestID, idChars) == "" &&
				strings.Trim(cmd.RequestID, "0123456789") != "" && cmd.JobID == ""
			if !byRequest && !(isJobID(cmd.JobID) && cmd.RequestID == "") {
				t.Fatalf("Parse(%q) request ID = %q, job ID = %q: want one of them, well formed", text, cmd.RequestID, cmd.JobID)
			}
			if n(cmd.Reason) > maxReasonLen {
				t.Fatalf("Parse(%q) reason = %q: too long", text, cmd.Reason)
			}
		case kindHistory:
			if cmd.Account == "" || cmd.TableGroup == "" || n(cmd.Account) > maxAccountLen || n(cmd.TableGroup) > maxTableGroupLen {
				t.Fatalf("Parse(%q) names %q / %q: empty or too long", text, cmd.Account, cmd.TableGroup)
			}
			if cmd.Count < 1 || cmd.Count > maxHistory {
				t.Fatalf("Parse(%q) count = %d", text, cmd.Count)
			}
		case kindList:
			if n(cmd.Account) > maxAccountLen {
				t.Fatalf("Parse(%q) account = %q: too long", text, cmd.Account)
			}
		case kindHelp:
		default:
			t.Fatalf("Parse(%q) kind = %q", text, cmd.Kind)
		}
		if !utf8.ValidString(text) || utf8.RuneCountInString(unescapeSlack(text)) > maxTextLen {
			t.Fatalf("Parse(%q) accepted a text that is too long or not UTF-8", text)
		}
	})
}
