package bot

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/slack-go/slack"
	"go.uber.org/zap"
)

// Console is a Chat that prints what the channel would see: each message
// as it is posted, thread replies indented under their parent, edits and
// ephemeral replies marked as such. It is safe for concurrent use.
type Console struct {
	mu   sync.Mutex
	out  io.Writer
	now  func() time.Time
	seq  int
	name map[string]string // ts → "msg N"
}

// NewConsole returns a Console that writes to out.
func NewConsole(out io.Writer, now func() time.Time) *Console {
	if now == nil {
		now = time.Now
	}
	return &Console{out: out, now: now, name: make(map[string]string)}
}

// Post prints a channel message and names it for later replies and edits.
func (c *Console) Post(_ context.Context, channel string, m Message) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	ts := strconv.Itoa(c.seq)
	c.name[ts] = "msg " + ts
	c.printf("[%s] #%s — backupbot (msg %s):\n%s", c.clock(), channel, ts, indent(render(m), "  "))
	return ts, nil
}

// Reply prints a thread reply indented under its parent.
func (c *Console) Reply(_ context.Context, _ string, threadTS string, m Message) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	ts := strconv.Itoa(c.seq)
	c.printf("    ↳ [%s] in thread of %s:\n%s", c.clock(), c.label(threadTS), indent(plain(m.Text), "      "))
	return ts, nil
}

// Update prints the new content of an edited message: its one-line text,
// which says what changed, rather than the whole card again.
func (c *Console) Update(_ context.Context, _ string, ts string, m Message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.printf("  ✎ [%s] %s edited:\n%s", c.clock(), c.label(ts), indent(plain(m.Text), "  "))
	return nil
}

// Delete prints that a message was removed.
func (c *Console) Delete(_ context.Context, _ string, ts string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.printf("  ✗ [%s] %s removed", c.clock(), c.label(ts))
	return nil
}

// Ephemeral prints a message only the caller would see.
func (c *Console) Ephemeral(_ context.Context, to Input, m Message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.printf("  (only visible to @%s)\n%s", to.User, indent(plain(m.Text), "  │ "))
	return nil
}

// Permalink names a message, as the console has no links.
func (c *Console) Permalink(_ context.Context, _ string, ts string) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return "console:" + c.label(ts), nil
}

// Printf prints a line of the console's own, between messages.
func (c *Console) Printf(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.printf(format, args...)
}

func (c *Console) printf(format string, args ...any) {
	fmt.Fprintf(c.out, format+"\n", args...)
}

func (c *Console) clock() string { return c.now().Format("15:04:05") }

func (c *Console) label(ts string) string {
	if n, ok := c.name[ts]; ok {
		return n
	}
	return "message " + ts
}

// render shows a message as Slack would: its blocks when it has them
// (sections, fields as "label: value", context, buttons with how to press
// them in the console), else its text.
func render(m Message) string {
	if len(m.Blocks) == 0 {
		return plain(m.Text)
	}
	var lines []string
	for _, b := range m.Blocks {
		switch b := b.(type) {
		case *slack.SectionBlock:
			if b.Text != nil {
				text := plain(b.Text.Text)
				if label, value, ok := strings.Cut(text, "*\n"); ok && strings.HasPrefix(label, "*") {
					text = strings.TrimPrefix(label, "*") + ": " + value
				}
				lines = append(lines, text)
			}
			for _, f := range b.Fields {
				label, value, _ := strings.Cut(plain(f.Text), "\n")
				lines = append(lines, "  "+strings.Trim(label, "*")+": "+value)
			}
		case *slack.ContextBlock:
			for _, e := range b.ContextElements.Elements {
				if t, ok := e.(*slack.TextBlockObject); ok {
					lines = append(lines, "  "+plain(t.Text))
				}
			}
		case *slack.ActionBlock:
			lines = append(lines, buttons(b))
		}
	}
	return strings.Join(lines, "\n")
}

// buttons shows an action block's buttons, and how to press them here.
func buttons(ab *slack.ActionBlock) string {
	var out []string
	if ab.Elements == nil {
		return ""
	}
	for _, e := range ab.Elements.ElementSet {
		btn, ok := e.(*slack.ButtonBlockElement)
		if !ok || btn.Text == nil {
			continue
		}
		verb := map[string]string{ActionApprove: "approve", ActionDeny: "deny"}[btn.ActionID]
		out = append(out, fmt.Sprintf("[ %s ] (type: %s %s --as U…)", btn.Text.Text, verb, btn.Value))
	}
	return strings.Join(out, "  ")
}

func indent(s, prefix string) string {
	return prefix + strings.ReplaceAll(s, "\n", "\n"+prefix)
}

var slackMarkup = regexp.MustCompile(`<([@#!])?([^<>|]*)(?:\|([^<>]*))?>`)

// plain renders Slack mrkdwn for a terminal: mentions as @ID, links as
// "label (url)", dates as their fallback (the time in UTC), and the three
// escaped characters as themselves.
func plain(s string) string {
	s = slackMarkup.ReplaceAllStringFunc(s, func(m string) string {
		g := slackMarkup.FindStringSubmatch(m)
		switch sigil, body, label := g[1], g[2], g[3]; {
		case sigil == "@" || sigil == "#":
			if label != "" {
				return sigil + label
			}
			return sigil + body
		case sigil == "!" && strings.HasPrefix(body, "date^"):
			return label
		case sigil == "!" && strings.HasPrefix(body, "subteam^"):
			return "@" + strings.TrimPrefix(body, "subteam^")
		case sigil == "!":
			return "@" + body
		case label != "":
			return label + " (" + body + ")"
		}
		return g[2]
	})
	return strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&").Replace(s)
}

// ConsoleSession is one person at the terminal typing slash commands.
type ConsoleSession struct {
	Bot     *Bot
	Console *Console
	User    string // the Slack user ID the typist acts as
	Channel string // the channel they type in
	Prompt  bool   // print a prompt before each line (for a terminal)
	// SharedStore says the store is not the console's own temporary one
	// (BACKUPBOT_DATABASE_URL named one): approve and deny, which decide
	// in another user's name, are refused there unless
	// AllowImpersonation. Either way, the audit trail marks a console
	// decision as made from the console.
	SharedStore, AllowImpersonation bool
}

// Run reads commands from in, one a line, until in ends, "quit", or ctx is
// done. At the end of the input it waits for followed jobs to end, so that
// piped commands show their outcome.
func (s ConsoleSession) Run(ctx context.Context, in io.Reader) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 4096), 64*1024)
	for {
		if s.Prompt {
			s.Console.Printf("%s> ", s.User)
		}
		if !sc.Scan() {
			break
		}
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "":
			continue
		case line == "quit" || line == "exit":
			return nil
		}
		s.line(ctx, line)
		if ctx.Err() != nil {
			return nil
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read console input: %w", err)
	}
	return s.drain(ctx)
}

func (s ConsoleSession) line(ctx context.Context, line string) {
	word, rest, _ := strings.Cut(line, " ")
	switch {
	case strings.EqualFold(word, s.Bot.command):
		s.Bot.Handle(ctx, Input{User: s.User, Channel: s.Channel, Text: rest})
	case strings.EqualFold(word, "approve") || strings.EqualFold(word, "deny"):
		s.decide(ctx, strings.EqualFold(word, "approve"), rest)
	case strings.HasPrefix(word, "/"):
		s.Console.Printf("  (console) unknown slash command %s: type %s help", word, s.Bot.command)
	default: // the slash command may be left out
		s.Bot.Handle(ctx, Input{User: s.User, Channel: s.Channel, Text: line})
	}
}

// decide is a click on Approve or Deny by another user: approve <id>
// [--as U…], deny <id> [--as U…] [reason…]. Without --as, it acts as the
// first of the account's approvers who is not the requester.
func (s ConsoleSession) decide(ctx context.Context, approve bool, args string) {
	words := strings.Fields(args)
	if len(words) == 0 {
		s.Console.Printf("  (console) usage: approve <request-id> [--as U…]   or   deny <request-id> [--as U…] [reason…]")
		return
	}
	id, as, reason := words[0], "", []string{}
	for i := 1; i < len(words); i++ {
		if words[i] == "--as" && i+1 < len(words) {
			as = words[i+1]
			i++
			continue
		}
		reason = append(reason, words[i])
	}
	if s.SharedStore && !s.AllowImpersonation {
		s.Console.Printf("  (console) refused: approve and deny decide in an approver's name, and this console writes to the bot's own " +
			"database (BACKUPBOT_DATABASE_URL), where that decision would count. Approve in Slack, or run the console with " +
			"--allow-impersonation (the audit trail marks such decisions as made from the console).")
		return
	}
	if as == "" {
		as = s.Bot.someApprover(ctx, id)
		if as == "" {
			s.Console.Printf("  (console) no approver found for %s: name one with --as U…", id)
			return
		}
	}
	s.Console.Printf("  (console) %s clicks %s on %s", as, map[bool]string{true: "Approve", false: "Deny"}[approve], id)
	t := s.Bot.newTurn(Input{User: as, Channel: s.Channel})
	t.log = t.log.With(zap.String("request", id), zap.String("via", "console"))
	t.via = "console"
	s.Bot.decide(ctx, t, id, "", approve, strings.Join(reason, " "))
}

// drain waits until no job is followed any more, or ctx is done.
func (s ConsoleSession) drain(ctx context.Context) error {
	if n := s.Bot.Following(ctx); n > 0 {
		s.Console.Printf("(console) end of input: waiting for the jobs of %d %s to end; Ctrl-C to quit.", n, plural(n, "request", "requests"))
	}
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for s.Bot.Following(ctx) > 0 {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
	return nil
}
