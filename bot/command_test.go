package bot

import (
	"errors"
	"strings"
	"testing"

	"github.com/backupbot/backupbot/commvault"
)

func TestParse(t *testing.T) {
	full, incr := commvault.Full, commvault.Incremental
	tests := []struct {
		name string
		text string
		want command
	}{
		// help
		{"empty", "", command{Kind: kindHelp}},
		{"only spaces", "  \t\u00a0 ", command{Kind: kindHelp}},
		{"help", "help", command{Kind: kindHelp}},
		{"help upper case, extra words ignored", "HELP dynamodb", command{Kind: kindHelp}},

		// backup
		{"backup full with reason", "dynamodb prod orders full before the schema migration (INC-4711)",
			command{Kind: kindBackup, Account: "prod", TableGroup: "orders", Level: full, Reason: "before the schema migration (INC-4711)"}},
		{"backup without reason", "dynamodb prod orders full", command{Kind: kindBackup, Account: "prod", TableGroup: "orders", Level: full}},
		{"keywords case-insensitive, names keep case", "DynamoDB Prod Orders FULL", command{Kind: kindBackup, Account: "Prod", TableGroup: "Orders", Level: full}},
		{"incremental", "dynamodb prod orders incremental", command{Kind: kindBackup, Account: "prod", TableGroup: "orders", Level: incr}},
		{"incr", "dynamodb prod orders Incr nightly", command{Kind: kindBackup, Account: "prod", TableGroup: "orders", Level: incr, Reason: "nightly"}},
		{"leading and trailing spaces", "   dynamodb prod orders full  x  ", command{Kind: kindBackup, Account: "prod", TableGroup: "orders", Level: full, Reason: "x"}},
		{"tabs and non-breaking spaces separate", "dynamodb\tprod\u00a0orders\u3000full", command{Kind: kindBackup, Account: "prod", TableGroup: "orders", Level: full}},
		{"reason spacing kept", "dynamodb prod orders full  a  b   c ", command{Kind: kindBackup, Account: "prod", TableGroup: "orders", Level: full, Reason: "a  b   c"}},
		{"reason line breaks and tabs folded", "dynamodb prod orders full a\r\nb\nc\td\u2028e", command{Kind: kindBackup, Account: "prod", TableGroup: "orders", Level: full, Reason: "a b c d e"}},
		{"reason apostrophe and quotes kept", `dynamodb prod orders full don't "touch" it`, command{Kind: kindBackup, Account: "prod", TableGroup: "orders", Level: full, Reason: `don't "touch" it`}},
		{"reason unclosed quote is fine", `dynamodb prod orders full "oops`, command{Kind: kindBackup, Account: "prod", TableGroup: "orders", Level: full, Reason: `"oops`}},
		{"name symbols", "dynamodb aws-prod_1.a orders:v2/eu+x@y full", command{Kind: kindBackup, Account: "aws-prod_1.a", TableGroup: "orders:v2/eu+x@y", Level: full}},
		{"unicode letters in names", "dynamodb prod commandes-été full", command{Kind: kindBackup, Account: "prod", TableGroup: "commandes-été", Level: full}},

		// quoting
		{"double quotes", `dynamodb demo "customer profiles" full`, command{Kind: kindBackup, Account: "demo", TableGroup: "customer profiles", Level: full}},
		{"single quotes", `dynamodb demo 'customer profiles' full`, command{Kind: kindBackup, Account: "demo", TableGroup: "customer profiles", Level: full}},
		{"curly double quotes", "dynamodb demo “customer profiles” full", command{Kind: kindBackup, Account: "demo", TableGroup: "customer profiles", Level: full}},
		{"curly single quotes", "dynamodb demo ‘customer profiles’ full", command{Kind: kindBackup, Account: "demo", TableGroup: "customer profiles", Level: full}},
		{"mixed curly and straight double quotes", "dynamodb demo “customer profiles\" full", command{Kind: kindBackup, Account: "demo", TableGroup: "customer profiles", Level: full}},
		{"quoted account and level", `dynamodb "prod" orders 'FULL' why`, command{Kind: kindBackup, Account: "prod", TableGroup: "orders", Level: full, Reason: "why"}},
		{"non-breaking space in quotes becomes a space", "dynamodb demo \"customer\u00a0profiles\" full", command{Kind: kindBackup, Account: "demo", TableGroup: "customer profiles", Level: full}},
		{"quoted name trimmed", `dynamodb demo " orders " full`, command{Kind: kindBackup, Account: "demo", TableGroup: "orders", Level: full}},

		// emergency
		{"emergency", "emergency dynamodb prod orders full INC-4711 table dropped", command{Kind: kindEmergency, Account: "prod", TableGroup: "orders", Level: full, Reason: "INC-4711 table dropped"}},
		{"emergency upper case", "EMERGENCY DYNAMODB prod orders incr now", command{Kind: kindEmergency, Account: "prod", TableGroup: "orders", Level: incr, Reason: "now"}},

		// status, list, cancel
		{"status", "status 12345", command{Kind: kindStatus, JobID: "12345"}},
		{"status upper case, spaces", "  Status   987 ", command{Kind: kindStatus, JobID: "987"}},
		{"list", "list", command{Kind: kindList}},
		{"list account", "LIST Prod", command{Kind: kindList, Account: "Prod"}},
		{"cancel", "cancel r-7f3a9c", command{Kind: kindCancel, RequestID: "r-7f3a9c"}},
		{"cancel keeps case", "Cancel R_7F3A9C", command{Kind: kindCancel, RequestID: "R_7F3A9C"}},
		{"cancel with a reason", "cancel r-7f3a9c  wrong table, eating\tread capacity ", command{Kind: kindCancel, RequestID: "r-7f3a9c", Reason: "wrong table, eating read capacity"}},
		{"cancel reason cleaned like a backup's", "cancel r-1 tell @here <@U1|bob>", command{Kind: kindCancel, RequestID: "r-1", Reason: "tell ＠here @bob"}},
		{"cancel a job", "cancel 149801", command{Kind: kindCancel, JobID: "149801"}},
		{"cancel a job with a reason", "CANCEL 149801 INC-9: stop it", command{Kind: kindCancel, JobID: "149801", Reason: "INC-9: stop it"}},
		{"cancel a quoted id", `cancel "r-7f3a9c" why`, command{Kind: kindCancel, RequestID: "r-7f3a9c", Reason: "why"}},
		{"history", "history prod orders", command{Kind: kindHistory, Account: "prod", TableGroup: "orders", Count: 10}},
		{"history with n", "HISTORY Prod Orders 25", command{Kind: kindHistory, Account: "Prod", TableGroup: "Orders", Count: 25}},
		{"history of one", "history prod orders 1", command{Kind: kindHistory, Account: "prod", TableGroup: "orders", Count: 1}},
		{"history quoted name", "history demo “customer profiles” 5", command{Kind: kindHistory, Account: "demo", TableGroup: "customer profiles", Count: 5}},
		{"history leading zero", "history prod orders 07", command{Kind: kindHistory, Account: "prod", TableGroup: "orders", Count: 7}},

		// limits at the edge
		{"account of 64", "dynamodb " + strings.Repeat("a", 64) + " orders full", command{Kind: kindBackup, Account: strings.Repeat("a", 64), TableGroup: "orders", Level: full}},
		{"table group of 128 letters é", "dynamodb prod " + strings.Repeat("é", 128) + " full", command{Kind: kindBackup, Account: "prod", TableGroup: strings.Repeat("é", 128), Level: full}},
		{"reason of 500", "dynamodb prod orders full " + strings.Repeat("r", 500), command{Kind: kindBackup, Account: "prod", TableGroup: "orders", Level: full, Reason: strings.Repeat("r", 500)}},

		// Slack sequences and neutralisation
		{"user mention with name", "dynamodb prod orders full asked by <@U123|bob>", command{Kind: kindBackup, Account: "prod", TableGroup: "orders", Level: full, Reason: "asked by @bob"}},
		{"user mention without name", "dynamodb prod orders full asked by <@U123ABC>", command{Kind: kindBackup, Account: "prod", TableGroup: "orders", Level: full, Reason: "asked by @U123ABC"}},
		{"channel mention", "dynamodb prod orders full see <#C01OPS|ops>", command{Kind: kindBackup, Account: "prod", TableGroup: "orders", Level: full, Reason: "see #ops"}},
		{"link with label", "dynamodb prod orders full see <https://x.example/a?b=1&amp;c=2|the runbook> now", command{Kind: kindBackup, Account: "prod", TableGroup: "orders", Level: full, Reason: "see the runbook (https://x.example/a?b=1&c=2) now"}},
		{"link without label", "dynamodb prod orders full see <https://x.example/INC-1>", command{Kind: kindBackup, Account: "prod", TableGroup: "orders", Level: full, Reason: "see https://x.example/INC-1"}},
		{"auto-linked domain", "dynamodb prod orders full see <http://wiki.example|wiki.example>", command{Kind: kindBackup, Account: "prod", TableGroup: "orders", Level: full, Reason: "see wiki.example"}},
		{"link label with spaces stays in reason", "dynamodb prod orders full <https://x|a b>", command{Kind: kindBackup, Account: "prod", TableGroup: "orders", Level: full, Reason: "a b (https://x)"}},
		{"auto-linked table group name", "dynamodb prod <http://orders.io|orders.io> full", command{Kind: kindBackup, Account: "prod", TableGroup: "orders.io", Level: full}},
		{"entities unescaped", "dynamodb prod orders full a &amp; b &lt; c &gt; d", command{Kind: kindBackup, Account: "prod", TableGroup: "orders", Level: full, Reason: "a & b < c > d"}},
		{"plain @here defused", "dynamodb prod orders full tell @here and @Channel and @EVERYONE, @bob", command{Kind: kindBackup, Account: "prod", TableGroup: "orders", Level: full, Reason: "tell ＠here and ＠Channel and ＠EVERYONE, @bob"}},
		{"mention labelled here defused", "dynamodb prod orders full <@U1|here>", command{Kind: kindBackup, Account: "prod", TableGroup: "orders", Level: full, Reason: "＠here"}},
		{"lone angle brackets are text", "dynamodb prod orders full a < b and c > d", command{Kind: kindBackup, Account: "prod", TableGroup: "orders", Level: full, Reason: "a < b and c > d"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parse(tt.text)
			if err != nil || got != tt.want {
				t.Errorf("Parse(%q) = %+v, %v, want %+v", tt.text, got, err, tt.want)
			}
		})
	}
}

func TestParseUsageErrors(t *testing.T) {
	tests := []struct {
		name      string
		text      string
		usage     cmdKind
		wantParts []string // each must appear in the Problem
	}{
		{"unknown command", "bakup prod", kindBackup, []string{`unknown command "bakup"`, "dynamodb, emergency, status, history, list, cancel and help"}},
		{"misspelt history", "histroy prod orders", kindHistory, []string{`did you mean "history"?`}},
		{"misspelt dynamodb", "dynamdb prod orders full", kindBackup, []string{`did you mean "dynamodb"?`}},
		{"abbreviated command", "stat 12", kindStatus, []string{`"stat"`, `did you mean "status"?`}},
		{"transposed letters", "lsit", kindList, []string{`did you mean "list"?`}},
		{"forgot dynamodb", "prod orders full", kindBackup, []string{`did you mean "dynamodb prod …"?`}},
		{"missing everything", "dynamodb", kindBackup, []string{"missing <account>, <tablegroup> and <level>"}},
		{"missing level", "dynamodb prod orders", kindBackup, []string{"missing <level>"}},
		{"missing tablegroup and level", "dynamodb prod", kindBackup, []string{"missing <tablegroup> and <level>"}},
		{"table group forgotten", "dynamodb prod full", kindBackup, []string{"missing <tablegroup>", `"full" is the level`}},
		{"unknown level", "dynamodb prod orders ful", kindBackup, []string{`unknown level "ful": use full or incremental`}},
		{"unquoted name with spaces", "dynamodb demo customer profiles full", kindBackup, []string{`unknown level "profiles"`, `needs quotes: "customer profiles"`}},
		{"emergency without reason", "emergency dynamodb prod orders full   ", kindEmergency, []string{"emergency backup needs a reason"}},
		{"emergency without dynamodb", "emergency prod orders full why", kindEmergency, []string{`missing "dynamodb" after emergency`}},
		{"status without id", "status", kindStatus, []string{"missing <jobId>"}},
		{"status non-numeric", "status abc", kindStatus, []string{"job ID must be a number", `"abc"`}},
		{"status negative", "status -12", kindStatus, []string{"job ID must be a number"}},
		{"status too long", "status " + strings.Repeat("9", 20), kindStatus, []string{"up to 19 digits"}},
		{"status extra words", "status 123 please", kindStatus, []string{`unexpected "please" after "status 123"`}},
		{"list extra words", "list prod staging", kindList, []string{`unexpected "staging"`}},
		{"cancel without id", "cancel", kindCancel, []string{"missing <request-id or jobId>"}},
		{"cancel bad id", "cancel r/1", kindCancel, []string{"request ID must be", "or a job ID", `"r/1"`}},
		{"cancel id too long", "cancel " + strings.Repeat("a", 65), kindCancel, []string{"up to 64"}},
		{"cancel job id too long", "cancel " + strings.Repeat("9", 20), kindCancel, []string{"job ID has up to 19 digits, not 20"}},
		{"cancel reason too long", "cancel r-1 " + strings.Repeat("r", 501), kindCancel, []string{"reason is too long"}},
		{"cancel reason pings", "cancel r-1 <!channel> look", kindCancel, []string{"reason may not contain @channel"}},
		{"cancel reason bidi", "cancel 12 a\u202eb", kindCancel, []string{"reason", "U+202E"}},
		{"history without anything", "history", kindHistory, []string{"missing <account> and <tablegroup>"}},
		{"history without table group", "history prod", kindHistory, []string{"missing <tablegroup>"}},
		{"history n not a number", "history prod orders ten", kindHistory, []string{`number of jobs must be a number from 1 to 25, not "ten"`}},
		{"history unquoted name with spaces", "history demo customer profiles", kindHistory, []string{`not "profiles"`, `needs quotes: "customer profiles"`}},
		{"history n zero", "history prod orders 0", kindHistory, []string{`must be from 1 to 25, not "0"`}},
		{"history n too big", "history prod orders 26", kindHistory, []string{`must be from 1 to 25, not "26"`}},
		{"history n huge", "history prod orders 99999999999999999999", kindHistory, []string{"must be a number from 1 to 25"}},
		{"history n quoted", `history prod orders "5"`, kindHistory, []string{"must be a number"}},
		{"history extra words", "history prod orders 5 please", kindHistory, []string{`unexpected "please" after "history prod orders 5"`}},
		{"history bad table group", "history prod ord*ers", kindHistory, []string{`table group may not contain "*"`}},
		{"history mention as account", "history <@U1> orders", kindHistory, []string{"account may not contain a user or channel mention"}},
		{"unclosed quote", `dynamodb demo "customer profiles full`, kindBackup, []string{"unclosed quote"}},
		{"unclosed curly quote", "dynamodb demo “customer profiles full", kindBackup, []string{"unclosed quote"}},
		{"empty quoted name", `dynamodb demo "" full`, kindBackup, []string{"table group name is empty"}},
		{"empty quoted account", `list ''`, kindList, []string{"account name is empty"}},
		{"text too long", "dynamodb prod orders full " + strings.Repeat("x", 1000), kindBackup, []string{"too long", "at most 1000"}},
		{"account too long", "dynamodb " + strings.Repeat("a", 65) + " orders full", kindBackup, []string{"account name is too long: 65 characters, at most 64"}},
		{"table group too long", "dynamodb prod " + strings.Repeat("t", 129) + " full", kindBackup, []string{"table group name is too long: 129 characters, at most 128"}},
		{"reason too long", "dynamodb prod orders full " + strings.Repeat("r", 501), kindBackup, []string{"reason is too long: 501 characters, at most 500"}},
		{"invalid UTF-8", "dynamodb prod orders full \xff", kindBackup, []string{"not valid UTF-8"}},
		{"NUL in account", "dynamodb pr\x00od orders full", kindBackup, []string{"account", "control character U+0000"}},
		{"NUL in reason", "dynamodb prod orders full a\x00b", kindBackup, []string{"reason", "control character U+0000"}},
		{"escape in reason", "dynamodb prod orders full \x1b[31mred", kindBackup, []string{"reason", "U+001B"}},
		{"newline in quoted name", "dynamodb demo \"customer\nprofiles\" full", kindBackup, []string{"table group may not contain a line break"}},
		{"zero-width space in table group", "dynamodb prod ord\u200bers full", kindBackup, []string{"table group", "U+200B"}},
		{"bidi override in reason", "dynamodb prod orders full abc\u202edef", kindBackup, []string{"reason", "U+202E"}},
		{"BOM in account", "list \ufeffprod", kindList, []string{"account", "U+FEFF"}},
		{"disallowed symbol in name", "dynamodb prod ord*ers full", kindBackup, []string{"table group may not contain \"*\"", "- _ . : / + @"}},
		{"quote closes only at a word end", `dynamodb demo "customer"s profiles" full`, kindBackup, []string{`table group may not contain "\""`}},
		{"apostrophe in name", "dynamodb prod don't full", kindBackup, []string{"table group may not contain \"'\""}},
		{"ampersand in name", "dynamodb prod a&amp;b full", kindBackup, []string{"table group may not contain \"&\""}},
		{"@here as a name", "list @here", kindList, []string{"account may not be an @channel, @here or @everyone mention"}},
		{"<!channel> in reason", "dynamodb prod orders full hey <!channel>", kindBackup, []string{"reason may not contain @channel/@here/@everyone mentions"}},
		{"<!here> with label in reason", "dynamodb prod orders full <!here|here> now", kindBackup, []string{"reason may not contain @channel/@here"}},
		{"<!everyone> in reason", "dynamodb prod orders full <!everyone>", kindBackup, []string{"reason may not contain @channel/@here/@everyone"}},
		{"<!subteam> in reason", "dynamodb prod orders full <!subteam^S012AB|@sre>", kindBackup, []string{"reason may not contain user-group mentions"}},
		{"<!date> in reason", "dynamodb prod orders full at <!date^1392734382^{date_short}|Feb 18, 2014>", kindBackup, []string{"reason may not contain Slack special sequences"}},
		{"escaped <!here> typed in reason", "dynamodb prod orders full &lt;!here&gt;", kindBackup, []string{"reason may not contain @channel/@here"}},
		{"<!here> as table group", "dynamodb prod <!here> full", kindBackup, []string{"table group may not contain @channel/@here"}},
		{"<!channel> as account in list", "list <!channel>", kindList, []string{"account may not contain @channel"}},
		{"user mention as table group", "dynamodb prod <@U123|bob> full", kindBackup, []string{"table group may not contain a user or channel mention"}},
		{"link label with space as name", "dynamodb prod <https://x|a b> full", kindBackup, []string{"table group may not contain spaces unless quoted"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parse(tt.text)
			var ue *usageError
			if !errors.As(err, &ue) {
				t.Fatalf("Parse(%q) = %+v, %v, want a *UsageError", tt.text, got, err)
			}
			if got != (command{}) {
				t.Errorf("Parse(%q) = %+v with an error, want the zero Command", tt.text, got)
			}
			for _, part := range tt.wantParts {
				if !strings.Contains(ue.Problem, part) {
					t.Errorf("Parse(%q) problem = %q, want it to contain %q", tt.text, ue.Problem, part)
				}
			}
			if ue.Usage != usageOf(tt.usage) {
				t.Errorf("Parse(%q) usage = %q, want %q", tt.text, ue.Usage, usageOf(tt.usage))
			}
			if want := ue.Problem + "\nUsage: " + ue.Usage; err.Error() != want {
				t.Errorf("Error() = %q, want %q", err.Error(), want)
			}
		})
	}
}

// TestParseProblemIsSafe: a problem echoes user words quoted, with < > and
// @here defused, so even an unescaped rendering cannot ping or inject.
func TestParseProblemIsSafe(t *testing.T) {
	for _, text := range []string{"<!channel>", "@here", "status <!here>", "status @everyone", "dynamodb prod orders <!here>", "\u202eevil"} {
		_, err := parse(text)
		var ue *usageError
		if !errors.As(err, &ue) {
			t.Fatalf("Parse(%q) error = %v, want a *UsageError", text, err)
		}
		if strings.ContainsAny(ue.Problem, "<>\u202e") || strings.Contains(strings.ToLower(ue.Problem), "@here") ||
			strings.Contains(strings.ToLower(ue.Problem), "@everyone") {
			t.Errorf("Parse(%q) problem = %q, want no < > @here @everyone or bidi override", text, ue.Problem)
		}
	}
}

func TestUsageAndGrammar(t *testing.T) {
	kinds := []cmdKind{kindBackup, kindEmergency, kindStatus, kindHistory, kindList, kindCancel, kindHelp}
	commands, _, ok := strings.Cut(grammar, "\n\n")
	if !ok {
		t.Fatalf("Grammar has no blank line between commands and notes:\n%s", grammar)
	}
	lines := strings.Split(commands, "\n")
	if len(lines) != len(kinds) {
		t.Fatalf("Grammar has %d command lines, want %d", len(lines), len(kinds))
	}
	for i, k := range kinds {
		u := usageOf(k)
		if u == "" || strings.ContainsAny(u, "`\n") || strings.HasPrefix(u, "/") {
			t.Errorf("Usage(%q) = %q, want one line starting with the subcommand", k, u)
		}
		if !strings.HasPrefix(lines[i], u+" — ") {
			t.Errorf("Grammar line %d = %q, want it to start with %q", i, lines[i], u+" — ")
		}
	}
}

func TestScannerQuotes(t *testing.T) {
	tests := []struct {
		name string
		text string
		want []string
	}{
		{"apostrophe inside a word", "don't stop", []string{"don't", "stop"}},
		{"apostrophe inside single quotes", "'don't panic' now", []string{"don't panic", "now"}},
		{"curly apostrophe inside curly quotes", "‘don’t panic’ now", []string{"don’t panic", "now"}},
		{"empty quotes", `"" x`, []string{"", "x"}},
		{"slack sequence kept whole", "a <https://x|b c> d", []string{"a", "<https://x|b c>", "d"}},
		{"< … > is kept whole", "a<b c>", []string{"a<b c>"}},
		{"lone < is a character", "a < b", []string{"a", "<", "b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &cmdScanner{text: tt.text}
			var got []string
			for {
				tok, ok, err := s.next(kindHelp)
				if err != nil {
					t.Fatalf("scan %q: %v", tt.text, err)
				}
				if !ok {
					break
				}
				got = append(got, tok.val)
			}
			if strings.Join(got, "|") != strings.Join(tt.want, "|") || len(got) != len(tt.want) {
				t.Errorf("scan(%q) = %q, want %q", tt.text, got, tt.want)
			}
		})
	}
}
