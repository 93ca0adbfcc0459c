package bot

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/backupbot/backupbot/commvault"
	"github.com/backupbot/backupbot/internal/fuzzy"
)

// Kind is the command a user typed.
type Kind string

// The commands of the slash command.
const (
	KindHelp      Kind = "help"
	KindBackup    Kind = "backup"
	KindEmergency Kind = "emergency"
	KindStatus    Kind = "status"
	KindList      Kind = "list"
	KindCancel    Kind = "cancel"
)

// Limits of the grammar. Name and reason lengths count characters (runes),
// after quotes are removed and Slack sequences rewritten.
const (
	MaxTextBytes     = 1000 // the whole text after the slash command
	MaxAccountLen    = 64
	MaxTableGroupLen = 128
	MaxReasonLen     = 500
	MaxJobIDLen      = 19 // digits; fits an int64
	MaxRequestIDLen  = 64
)

// Grammar is the command reference. Every line up to the first blank line
// starts with a subcommand (prefix it with the slash command's name); the
// lines after it are notes.
const Grammar = `dynamodb <account> <tablegroup> full|incremental [reason…] — request a backup (incr = incremental)
emergency dynamodb <account> <tablegroup> full|incremental <reason…> — break-glass: no approval, a reason is required
status <jobId> — a Commvault job's state, progress, start/end and size
list [account] — the accounts and table groups you may back up
cancel <request-id> — withdraw your request that still waits for approval
help — this text

Words are case-insensitive; names keep their case. Quote a name with spaces: "customer profiles" ('…', “…” and ‘…’ work too).
Names use letters, digits and - _ . : / + @ (spaces only inside quotes); accounts up to 64 characters, table groups up to 128.
The reason is the rest of the line, up to 500 characters; @channel, @here and @everyone are not allowed or are defused.`

// Command is one parsed slash command.
type Command struct {
	Kind       Kind
	Account    string          // as typed (caller lowercases when comparing)
	TableGroup string          // as typed, quotes removed
	Level      commvault.Level // commvault.Full / commvault.Incremental
	Reason     string          // rest of the line, trimmed, neutralised
	JobID      string          // status
	RequestID  string          // cancel
}

// UsageError is a command the grammar does not accept: what was wrong, and
// the right form (without the slash command's name; empty when no one form fits).
type UsageError struct {
	Problem string
	Usage   string
}

func (e *UsageError) Error() string { return e.Problem + "\nUsage: " + e.Usage }

// Usage is the one-line form of a command, starting with the subcommand.
func Usage(kind Kind) string {
	switch kind {
	case KindBackup:
		return "dynamodb <account> <tablegroup> full|incremental [reason…]"
	case KindEmergency:
		return "emergency dynamodb <account> <tablegroup> full|incremental <reason…>"
	case KindStatus:
		return "status <jobId>"
	case KindList:
		return "list [account]"
	case KindCancel:
		return "cancel <request-id>"
	default:
		return "help"
	}
}

// Parse reads the text that follows the slash command. It is a pure function:
// a Command, or a *UsageError that says what was wrong and shows the right form.
//
//	"" or help                                         → KindHelp (words after help are ignored)
//	dynamodb prod orders full before the migration     → KindBackup, Level commvault.Full, Reason "before the migration"
//	dynamodb demo "customer profiles" incr             → KindBackup, TableGroup "customer profiles", Level commvault.Incremental
//	emergency dynamodb prod orders full INC-4711 down  → KindEmergency (a reason is required)
//	status 12345                                       → KindStatus, JobID "12345" (ASCII digits, nothing after)
//	list / list prod                                   → KindList, Account "" / "prod"
//	cancel r-7f3a9c                                    → KindCancel, RequestID "r-7f3a9c" ([A-Za-z0-9_-]{1,64})
//
// Tokens are separated by any Unicode white space. Keywords and levels (full,
// incremental, incr) are case-insensitive; names keep their case. A token
// that starts with ", ', “, ”, „, ‘ or ’ runs to a quote of the same family
// that ends a token (so `'don't panic'` is one word), and an unclosed quote is
// an error; quotes inside a word (don't) are plain characters. The reason is
// the raw rest of the line: its quotes are kept as typed.
//
// Text is refused when it is longer than MaxTextBytes or not valid UTF-8, and
// a field is refused when it holds a control character (the reason folds
// line breaks and tabs into spaces), an invisible formatting character (zero
// width, bidi override, BOM: Unicode category Cf), or a Slack special sequence
// <!here>, <!channel>, <!everyone>, <!subteam^…>, <!date…> (also when it arrives
// HTML-escaped as &lt;!…&gt;). Names are letters, digits and - _ . : / + @,
// plus spaces inside quotes (Unicode spaces become ASCII spaces), trimmed.
//
// The reason is plain text for the renderer to escape: Slack's &amp; &lt; &gt;
// are unescaped, <@U1|bob> becomes @bob, <@U1> @U1, <#C1|ops> #ops, <url|label>
// "label (url)" (just "label" when it is the URL), <url> the URL, and the words
// @channel, @here, @everyone (any case) get a fullwidth at sign (＠here): no ping.
// In names a link becomes its label (Slack links names that look like domains);
// mentions are refused.
func Parse(text string) (Command, error) {
	if len(text) > MaxTextBytes {
		return Command{}, usageErr(kindOfFirstWord(text), "the command is too long: %d bytes, at most %d", len(text), MaxTextBytes)
	}
	if !utf8.ValidString(text) {
		return Command{}, usageErr(kindOfFirstWord(text), "the command is not valid UTF-8 text; retype it")
	}
	s := &cmdScanner{text: text}
	tok, ok, err := s.next(KindHelp)
	if err != nil {
		return Command{}, err
	}
	if !ok {
		return Command{Kind: KindHelp}, nil
	}
	switch strings.ToLower(tok.val) {
	case "help":
		return Command{Kind: KindHelp}, nil
	case "dynamodb":
		return parseBackup(s, KindBackup)
	case "emergency":
		t, ok, err := s.next(KindEmergency)
		if err != nil {
			return Command{}, err
		}
		if !ok || !strings.EqualFold(t.val, "dynamodb") {
			return Command{}, usageErr(KindEmergency, `missing "dynamodb" after emergency`)
		}
		return parseBackup(s, KindEmergency)
	case "status", "cancel":
		return parseID(s, Kind(strings.ToLower(tok.val)))
	case "list":
		return parseList(s)
	}
	return Command{}, unknownCommand(s, tok)
}

func usageErr(kind Kind, format string, args ...any) *UsageError {
	return &UsageError{Problem: fmt.Sprintf(format, args...), Usage: Usage(kind)}
}

func parseBackup(s *cmdScanner, kind Kind) (Command, error) {
	fields := []string{"<account>", "<tablegroup>", "<level>"}
	var toks []cmdToken
	for len(toks) < len(fields) {
		t, ok, err := s.next(kind)
		if err != nil {
			return Command{}, err
		}
		if !ok {
			break
		}
		toks = append(toks, t)
	}
	if n := len(toks); n < len(fields) {
		if n == 2 && !toks[1].quoted && levelOf(toks[1].val) != "" {
			return Command{}, usageErr(kind, "missing <tablegroup>: %s is the level; put the table group before it", quoteWord(toks[1].val))
		}
		missing := fields[n:]
		list := strings.Join(missing, " and ")
		if len(missing) == 3 {
			list = "<account>, <tablegroup> and <level>"
		}
		return Command{}, usageErr(kind, "missing %s", list)
	}
	cmd := Command{Kind: kind}
	var err error
	if cmd.Account, err = cleanName(kind, "account", toks[0], MaxAccountLen); err != nil {
		return Command{}, err
	}
	if cmd.TableGroup, err = cleanName(kind, "table group", toks[1], MaxTableGroupLen); err != nil {
		return Command{}, err
	}
	if cmd.Level = levelOf(toks[2].val); cmd.Level == "" {
		p := fmt.Sprintf("unknown level %s: use full or incremental", quoteWord(toks[2].val))
		if name := spacedName(s, toks[1], toks[2]); name != "" {
			p += fmt.Sprintf(`; a table group name with spaces needs quotes: "%s"`, name)
		}
		return Command{}, &UsageError{Problem: p, Usage: Usage(kind)}
	}
	if cmd.Reason, err = cleanReason(kind, s.rest()); err != nil {
		return Command{}, err
	}
	if kind == KindEmergency && cmd.Reason == "" {
		return Command{}, usageErr(kind, "missing <reason…>: an emergency backup needs a reason after the level")
	}
	return cmd, nil
}

// levelOf is the level a word names, or "".
func levelOf(word string) commvault.Level {
	switch strings.ToLower(word) {
	case "full":
		return commvault.Full
	case "incremental", "incr":
		return commvault.Incremental
	}
	return ""
}

// spacedName guesses a table group typed with spaces and no quotes: when one
// of the next three words after the bad level is a level, it returns the words
// from the table group up to that level (as typed), else "".
func spacedName(s *cmdScanner, tg, bad cmdToken) string {
	if tg.quoted || bad.quoted {
		return ""
	}
	peek, end := *s, bad.end
	for range 3 {
		t, ok, err := peek.next(KindBackup)
		if err != nil || !ok || t.quoted {
			return ""
		}
		if levelOf(t.val) != "" {
			if name := s.text[tg.start:end]; !strings.ContainsAny(name, "\"'“”‘’<>&\n\r\t") {
				return name
			}
			return ""
		}
		end = t.end
	}
	return ""
}

func parseList(s *cmdScanner) (Command, error) {
	t, ok, err := s.next(KindList)
	if err != nil {
		return Command{}, err
	}
	if !ok {
		return Command{Kind: KindList}, nil
	}
	acct, err := cleanName(KindList, "account", t, MaxAccountLen)
	if err != nil {
		return Command{}, err
	}
	if err := noMore(s, KindList, "list "+acct); err != nil {
		return Command{}, err
	}
	return Command{Kind: KindList, Account: acct}, nil
}

// parseID reads the one word of status (a job ID: digits) or cancel (a
// request ID: letters, digits, - and _).
func parseID(s *cmdScanner, kind Kind) (Command, error) {
	what, field, chars, maxLen, example := "<jobId>", "job ID", "0123456789", MaxJobIDLen, "a number of up to %d digits, like 12345"
	if kind == KindCancel {
		what, field, chars, maxLen, example = "<request-id>", "request ID", idChars, MaxRequestIDLen, "up to %d letters, digits, - or _, like r-7f3a9c"
	}
	t, ok, err := s.next(kind)
	if err != nil {
		return Command{}, err
	}
	if !ok {
		return Command{}, usageErr(kind, "missing %s", what)
	}
	if t.val == "" || len(t.val) > maxLen || strings.Trim(t.val, chars) != "" {
		return Command{}, usageErr(kind, "the %s must be "+example+", not %s", field, maxLen, quoteWord(t.val))
	}
	if err := noMore(s, kind, string(kind)+" "+t.val); err != nil {
		return Command{}, err
	}
	if kind == KindCancel {
		return Command{Kind: kind, RequestID: t.val}, nil
	}
	return Command{Kind: kind, JobID: t.val}, nil
}

const idChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"

// noMore refuses words after a complete command.
func noMore(s *cmdScanner, kind Kind, after string) error {
	if rest := s.rest(); rest != "" {
		return usageErr(kind, "unexpected %s after %s", quoteWord(rest), quoteWord(after))
	}
	return nil
}

func unknownCommand(s *cmdScanner, tok cmdToken) error {
	p := "unknown command " + quoteWord(tok.val)
	usage := Usage(KindBackup)
	words := []string{"dynamodb", "emergency", "status", "list", "cancel", "help"}
	if near := fuzzy.Closest(tok.val, words, 2); len(near) > 0 {
		usage = Usage(kindOfFirstWord(near[0]))
		for i, w := range near {
			near[i] = strconv.Quote(w)
		}
		p += " — did you mean " + strings.Join(near, " or ") + "?"
	} else if peek := *s; looksLikeBackup(&peek) {
		p += fmt.Sprintf(` — did you mean "dynamodb %s …"?`, strings.Trim(quoteWord(tok.val), `"`))
	}
	sep := "; the"
	if strings.HasSuffix(p, "?") {
		sep = " The"
	}
	return &UsageError{Problem: p + sep + " commands are dynamodb, emergency, status, list, cancel and help", Usage: usage}
}

// looksLikeBackup says whether the words after an unknown first word end in a
// level at the place of <level>, as when "dynamodb" was left out.
func looksLikeBackup(s *cmdScanner) bool {
	var t cmdToken
	for range 2 {
		var ok bool
		var err error
		if t, ok, err = s.next(KindBackup); err != nil || !ok {
			return false
		}
	}
	return levelOf(t.val) != ""
}

// kindOfFirstWord is the command named by the text's first word, or KindHelp.
func kindOfFirstWord(text string) Kind {
	i := strings.IndexFunc(strings.TrimLeftFunc(text, unicode.IsSpace), unicode.IsSpace)
	word := strings.TrimLeftFunc(text, unicode.IsSpace)
	if i >= 0 {
		word = word[:i]
	}
	switch strings.ToLower(word) {
	case "dynamodb":
		return KindBackup
	case "emergency", "status", "list", "cancel":
		return Kind(strings.ToLower(word))
	}
	return KindHelp
}

// quoteWord shows a user's word inside a problem text: Go-quoted (control and
// invisible characters escaped), shortened, with < > turned into ‹ › and
// @here-style words defused, so the problem is safe even unescaped.
func quoteWord(s string) string {
	if r := []rune(s); len(r) > 40 {
		s = string(r[:40]) + "…"
	}
	return defuseBroadcasts(strings.NewReplacer("<", "‹", ">", "›").Replace(strconv.Quote(s)))
}
