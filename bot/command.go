package bot

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/backupbot/backupbot/commvault"
	"github.com/backupbot/backupbot/internal/fuzzy"
)

// cmdKind is the command a user typed.
type cmdKind string

// The commands of the slash command.
const (
	kindHelp      cmdKind = "help"
	kindBackup    cmdKind = "backup"
	kindEmergency cmdKind = "emergency"
	kindStatus    cmdKind = "status"
	kindList      cmdKind = "list"
	kindCancel    cmdKind = "cancel"
	kindHistory   cmdKind = "history"
)

// Limits of the grammar. Name and reason lengths count characters (runes),
// after quotes are removed and Slack sequences rewritten.
const (
	maxTextLen       = 1000 // the whole text after the slash command
	maxAccountLen    = 64
	maxTableGroupLen = 128
	maxReasonLen     = 500
	maxJobIDLen      = 19 // digits; fits an int64
	maxRequestIDLen  = 64
	defaultHistory   = 10 // jobs a history shows when n is not given
	maxHistory       = 25 // the most a history shows
)

// grammar is the command reference. Every line up to the first blank line
// starts with a subcommand (prefix it with the slash command's name); the
// lines after it are notes.
const grammar = `dynamodb <account> <tablegroup> full|incremental [reason…] — request a backup (incr = incremental)
emergency dynamodb <account> <tablegroup> full|incremental <reason…> — break-glass: no approval, a reason is required
status <jobId> — a Commvault job's state, progress, start/end and size
history <account> <tablegroup> [n] — the last n backups of a table group (default 10, at most 25), whoever started them
list [account] — the accounts and table groups you may back up
cancel <request-id or jobId> [reason…] — withdraw a request, or kill its Commvault job if it runs (requester or approvers)
help — this text

Words are case-insensitive; names keep their case. Quote a name with spaces: "customer profiles" ('…', “…” and ‘…’ work too).
Names use letters, digits and - _ . : / + @ (spaces only inside quotes); accounts up to 64 characters, table groups up to 128.
The reason is the rest of the line, up to 500 characters; @channel, @here and @everyone are not allowed or are defused. A whole command is at most 1,000 characters.`

// command is one parsed slash command.
type command struct {
	Kind       cmdKind
	Account    string          // as typed (caller lowercases when comparing)
	TableGroup string          // as typed, quotes removed
	Level      commvault.Level // commvault.Full / commvault.Incremental
	Reason     string          // rest of the line, trimmed, neutralised
	JobID      string          // status; cancel by job ID
	RequestID  string          // cancel by request ID
	Count      int             // history: how many jobs (1..maxHistory)
}

// usageError is a command the grammar does not accept: what was wrong, and
// the right form (without the slash command's name; empty when no one form fits).
type usageError struct {
	Problem string
	Usage   string
}

func (e *usageError) Error() string { return e.Problem + "\nUsage: " + e.Usage }

// usageOf is the one-line form of a command, starting with the subcommand.
func usageOf(kind cmdKind) string {
	switch kind {
	case kindBackup:
		return "dynamodb <account> <tablegroup> full|incremental [reason…]"
	case kindEmergency:
		return "emergency dynamodb <account> <tablegroup> full|incremental <reason…>"
	case kindStatus:
		return "status <jobId>"
	case kindList:
		return "list [account]"
	case kindCancel:
		return "cancel <request-id or jobId> [reason…]"
	case kindHistory:
		return "history <account> <tablegroup> [n]"
	default:
		return "help"
	}
}

// parse reads the text that follows the slash command. It is a pure function:
// a command, or a *usageError that says what was wrong and shows the right form.
//
//	"" or help                                         → kindHelp (words after help are ignored)
//	dynamodb prod orders full before the migration     → kindBackup, Level commvault.Full, Reason "before the migration"
//	dynamodb demo "customer profiles" incr             → kindBackup, TableGroup "customer profiles", Level commvault.Incremental
//	emergency dynamodb prod orders full INC-4711 down  → kindEmergency (a reason is required)
//	status 12345                                       → kindStatus, JobID "12345" (ASCII digits, nothing after)
//	list / list prod                                   → kindList, Account "" / "prod"
//	history prod orders / history demo "customer profiles" 25 → kindHistory, Count 10 (default) / 25 (1..25)
//	cancel r-7f3a9c wrong table                        → kindCancel, RequestID "r-7f3a9c" ([A-Za-z0-9_-]{1,64}), Reason "wrong table"
//	cancel 149801                                      → kindCancel, JobID "149801" (digits: a job ID)
//
// Tokens are separated by any Unicode white space. Keywords and levels (full,
// incremental, incr) are case-insensitive; names keep their case. A token
// that starts with ", ', “, ”, „, ‘ or ’ runs to a quote of the same family
// that ends a token (so `'don't panic'` is one word), and an unclosed quote is
// an error; quotes inside a word (don't) are plain characters. The reason is
// the raw rest of the line: its quotes are kept as typed.
//
// Text is refused when it is not valid UTF-8 or longer than maxTextLen
// characters (counted as Slack counts them: &amp; &lt; &gt; as one), and
// a field is refused when it holds a control character (the reason folds
// line breaks and tabs into spaces), an invisible formatting character (zero
// width, bidi override, BOM: Unicode category Cf), or a Slack special sequence
// <!here>, <!channel>, <!everyone>, <!subteam^…>, <!date…> (also when it arrives
// HTML-escaped as &lt;!…&gt;). Names are letters, digits and - _ . : / + @,
// plus spaces inside quotes (Unicode spaces become ASCII spaces), trimmed.
//
// The reason (of a backup or a cancel) is plain text for the renderer to escape: Slack's &amp; &lt; &gt;
// are unescaped, <@U1|bob> becomes @bob, <@U1> @U1, <#C1|ops> #ops, <url|label>
// "label (url)" (just "label" when it is the URL), <url> the URL, and the words
// @channel, @here, @everyone (any case) get a fullwidth at sign (＠here): no ping.
// In names a link becomes its label (Slack links names that look like domains);
// mentions are refused.
func parse(text string) (command, error) {
	if !utf8.ValidString(text) {
		return command{}, usageErr(kindOfFirstWord(text), "the command is not valid UTF-8 text; retype it")
	}
	if n := utf8.RuneCountInString(unescapeSlack(text)); n > maxTextLen {
		return command{}, usageErr(kindOfFirstWord(text), "the command is too long: %d characters, at most %d", n, maxTextLen)
	}
	s := &cmdScanner{text: text}
	tok, ok, err := s.next(kindHelp)
	if err != nil {
		return command{}, err
	}
	if !ok {
		return command{Kind: kindHelp}, nil
	}
	switch strings.ToLower(tok.val) {
	case "help":
		return command{Kind: kindHelp}, nil
	case "dynamodb":
		return parseBackup(s, kindBackup)
	case "emergency":
		t, ok, err := s.next(kindEmergency)
		if err != nil {
			return command{}, err
		}
		if !ok || !strings.EqualFold(t.val, "dynamodb") {
			return command{}, usageErr(kindEmergency, `missing "dynamodb" after emergency`)
		}
		return parseBackup(s, kindEmergency)
	case "status":
		return parseStatus(s)
	case "cancel":
		return parseCancel(s)
	case "history":
		return parseHistory(s)
	case "list":
		return parseList(s)
	}
	return command{}, unknownCommand(s, tok)
}

func usageErr(kind cmdKind, format string, args ...any) *usageError {
	return &usageError{Problem: fmt.Sprintf(format, args...), Usage: usageOf(kind)}
}

func parseBackup(s *cmdScanner, kind cmdKind) (command, error) {
	fields := []string{"<account>", "<tablegroup>", "<level>"}
	var toks []cmdToken
	for len(toks) < len(fields) {
		t, ok, err := s.next(kind)
		if err != nil {
			return command{}, err
		}
		if !ok {
			break
		}
		toks = append(toks, t)
	}
	if n := len(toks); n < len(fields) {
		if n == 2 && !toks[1].quoted && levelOf(toks[1].val) != "" {
			return command{}, usageErr(kind, "missing <tablegroup>: %s is the level; put the table group before it", quoteWord(toks[1].val))
		}
		missing := fields[n:]
		list := strings.Join(missing, " and ")
		if len(missing) == 3 {
			list = "<account>, <tablegroup> and <level>"
		}
		return command{}, usageErr(kind, "missing %s", list)
	}
	cmd := command{Kind: kind}
	var err error
	if cmd.Account, err = cleanName(kind, "account", toks[0], maxAccountLen); err != nil {
		return command{}, err
	}
	if cmd.TableGroup, err = cleanName(kind, "table group", toks[1], maxTableGroupLen); err != nil {
		return command{}, err
	}
	if cmd.Level = levelOf(toks[2].val); cmd.Level == "" {
		p := fmt.Sprintf("unknown level %s: use full or incremental", quoteWord(toks[2].val))
		if name := spacedName(s, toks[1], toks[2]); name != "" {
			p += fmt.Sprintf(`; a table group name with spaces needs quotes: "%s"`, name)
		}
		return command{}, &usageError{Problem: p, Usage: usageOf(kind)}
	}
	if cmd.Reason, err = cleanReason(kind, s.rest()); err != nil {
		return command{}, err
	}
	if kind == kindEmergency && cmd.Reason == "" {
		return command{}, usageErr(kind, "missing <reason…>: an emergency backup needs a reason after the level")
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
		t, ok, err := peek.next(kindBackup)
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

func parseList(s *cmdScanner) (command, error) {
	t, ok, err := s.next(kindList)
	if err != nil {
		return command{}, err
	}
	if !ok {
		return command{Kind: kindList}, nil
	}
	acct, err := cleanName(kindList, "account", t, maxAccountLen)
	if err != nil {
		return command{}, err
	}
	if err := noMore(s, kindList, "list "+acct); err != nil {
		return command{}, err
	}
	return command{Kind: kindList, Account: acct}, nil
}

// parseStatus reads the job ID of status: digits, nothing after.
func parseStatus(s *cmdScanner) (command, error) {
	t, ok, err := s.next(kindStatus)
	if err != nil {
		return command{}, err
	}
	if !ok {
		return command{}, usageErr(kindStatus, "missing <jobId>")
	}
	if !isJobID(t.val) {
		return command{}, usageErr(kindStatus, "the job ID must be a number of up to %d digits, like 12345, not %s", maxJobIDLen, quoteWord(t.val))
	}
	if err := noMore(s, kindStatus, "status "+t.val); err != nil {
		return command{}, err
	}
	return command{Kind: kindStatus, JobID: t.val}, nil
}

func isJobID(v string) bool {
	return v != "" && len(v) <= maxJobIDLen && strings.Trim(v, "0123456789") == ""
}

// parseCancel reads cancel's request ID (letters, digits, - and _) or job
// ID (digits only), and the rest of the line as the reason.
func parseCancel(s *cmdScanner) (command, error) {
	t, ok, err := s.next(kindCancel)
	if err != nil {
		return command{}, err
	}
	if !ok {
		return command{}, usageErr(kindCancel, "missing <request-id or jobId>")
	}
	cmd := command{Kind: kindCancel}
	switch {
	case t.val != "" && strings.Trim(t.val, "0123456789") == "":
		if !isJobID(t.val) {
			return command{}, usageErr(kindCancel, "a job ID has up to %d digits, not %d", maxJobIDLen, len(t.val))
		}
		cmd.JobID = t.val
	case t.val == "" || len(t.val) > maxRequestIDLen || strings.Trim(t.val, idChars) != "":
		return command{}, usageErr(kindCancel, "the request ID must be up to %d letters, digits, - or _, like r-7f3a9c, "+
			"or a job ID (digits), not %s", maxRequestIDLen, quoteWord(t.val))
	default:
		cmd.RequestID = t.val
	}
	if cmd.Reason, err = cleanReason(kindCancel, s.rest()); err != nil {
		return command{}, err
	}
	return cmd, nil
}

// parseHistory reads history's account, table group and optional count.
func parseHistory(s *cmdScanner) (command, error) {
	var toks []cmdToken
	for len(toks) < 2 {
		t, ok, err := s.next(kindHistory)
		if err != nil {
			return command{}, err
		}
		if !ok {
			break
		}
		toks = append(toks, t)
	}
	switch len(toks) {
	case 0:
		return command{}, usageErr(kindHistory, "missing <account> and <tablegroup>")
	case 1:
		return command{}, usageErr(kindHistory, "missing <tablegroup>")
	}
	cmd := command{Kind: kindHistory, Count: defaultHistory}
	var err error
	if cmd.Account, err = cleanName(kindHistory, "account", toks[0], maxAccountLen); err != nil {
		return command{}, err
	}
	if cmd.TableGroup, err = cleanName(kindHistory, "table group", toks[1], maxTableGroupLen); err != nil {
		return command{}, err
	}
	t, ok, err := s.next(kindHistory)
	if err != nil {
		return command{}, err
	}
	if !ok {
		return cmd, nil
	}
	n, convErr := strconv.Atoi(t.val)
	if t.quoted || convErr != nil || strings.Trim(t.val, "0123456789") != "" {
		p := fmt.Sprintf("the number of jobs must be a number from 1 to %d, not %s", maxHistory, quoteWord(t.val))
		if name := s.text[toks[1].start:t.end]; !toks[1].quoted && !t.quoted && !strings.ContainsAny(name, "\"'“”‘’<>&\n\r\t") {
			p += fmt.Sprintf(`; a table group name with spaces needs quotes: "%s"`, name)
		}
		return command{}, &usageError{Problem: p, Usage: usageOf(kindHistory)}
	}
	if n < 1 || n > maxHistory {
		return command{}, usageErr(kindHistory, "the number of jobs must be from 1 to %d, not %s", maxHistory, quoteWord(t.val))
	}
	cmd.Count = n
	if err := noMore(s, kindHistory, fmt.Sprintf("history %s %s %d", cmd.Account, cmd.TableGroup, n)); err != nil {
		return command{}, err
	}
	return cmd, nil
}

const idChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"

// noMore refuses words after a complete command.
func noMore(s *cmdScanner, kind cmdKind, after string) error {
	if rest := s.rest(); rest != "" {
		return usageErr(kind, "unexpected %s after %s", quoteWord(rest), quoteWord(after))
	}
	return nil
}

func unknownCommand(s *cmdScanner, tok cmdToken) error {
	p := "unknown command " + quoteWord(tok.val)
	usage := usageOf(kindBackup)
	words := []string{"dynamodb", "emergency", "status", "history", "list", "cancel", "help"}
	if near := fuzzy.Closest(tok.val, words, 2); len(near) > 0 {
		usage = usageOf(kindOfFirstWord(near[0]))
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
	return &usageError{Problem: p + sep + " commands are dynamodb, emergency, status, history, list, cancel and help", Usage: usage}
}

// looksLikeBackup says whether the words after an unknown first word end in a
// level at the place of <level>, as when "dynamodb" was left out.
func looksLikeBackup(s *cmdScanner) bool {
	var t cmdToken
	for range 2 {
		var ok bool
		var err error
		if t, ok, err = s.next(kindBackup); err != nil || !ok {
			return false
		}
	}
	return levelOf(t.val) != ""
}
