package bot

// The tokenizer and the cleaning of names and reasons for parse, and how
// a problem quotes what the user typed.

import (
	"cmp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// cmdToken is one word of the text: its value (quotes removed) and where it
// lies in the text.
type cmdToken struct {
	val        string
	start, end int // byte offsets, quotes included
	quoted     bool
}

// cmdScanner reads the text a word at a time, so the reason after the level is
// taken raw and its quotes are never interpreted.
type cmdScanner struct {
	text string
	pos  int
}

// quoteFamily is 1 for double quotes, 2 for single quotes, 0 otherwise.
func quoteFamily(r rune) int {
	switch r {
	case '"', '“', '”', '„':
		return 1
	case '\'', '‘', '’':
		return 2
	}
	return 0
}

// next returns the next word; ok is false at the end of the text. A quote
// opens only at the start of a word and closes only at the end of one. In an
// unquoted word a Slack sequence <…> is kept whole, spaces included.
func (s *cmdScanner) next(kind cmdKind) (t cmdToken, ok bool, err error) {
	s.pos += len(s.text[s.pos:]) - len(strings.TrimLeftFunc(s.text[s.pos:], unicode.IsSpace))
	if s.pos >= len(s.text) {
		return cmdToken{}, false, nil
	}
	start := s.pos
	r, w := utf8.DecodeRuneInString(s.text[start:])
	if fam := quoteFamily(r); fam != 0 {
		for i := start + w; i < len(s.text); {
			c, cw := utf8.DecodeRuneInString(s.text[i:])
			if quoteFamily(c) == fam {
				after, _ := utf8.DecodeRuneInString(s.text[i+cw:])
				if i+cw == len(s.text) || unicode.IsSpace(after) {
					s.pos = i + cw
					return cmdToken{val: s.text[start+w : i], start: start, end: s.pos, quoted: true}, true, nil
				}
			}
			i += cw
		}
		return cmdToken{}, false, usageErr(kind, "unclosed quote in %s: close it with a matching quote followed by a space", quoteWord(s.text[start:]))
	}
	i := start
	for i < len(s.text) {
		c, cw := utf8.DecodeRuneInString(s.text[i:])
		if unicode.IsSpace(c) {
			break
		}
		if c == '<' {
			if j := strings.IndexByte(s.text[i:], '>'); j > 0 && !strings.ContainsRune(s.text[i+1:i+j], '<') {
				cw = j + 1
			}
		}
		i += cw
	}
	s.pos = i
	return cmdToken{val: s.text[start:i], start: start, end: i}, true, nil
}

// rest is the raw text after the words read so far, trimmed.
func (s *cmdScanner) rest() string { return strings.TrimFunc(s.text[s.pos:], unicode.IsSpace) }

// nameSymbols are the characters names may hold besides letters and digits.
const nameSymbols = "-_.:/+@"

// cleanName checks a name (account or table group) and returns it as typed,
// quotes removed, Slack links reduced to their label, spaces normalised.
func cleanName(kind cmdKind, field string, t cmdToken, maxLen int) (string, error) {
	if err := refuseInvisible(kind, field, t.val, false); err != nil {
		return "", err
	}
	v, err := expandSlack(kind, field, t.val, false)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, r := range v {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune(nameSymbols, r):
			b.WriteRune(r)
		case unicode.Is(unicode.Zs, r) && t.quoted:
			b.WriteByte(' ')
		case unicode.IsSpace(r) && t.quoted:
			return "", usageErr(kind, "the %s may not contain a line break", field)
		case unicode.IsSpace(r):
			return "", usageErr(kind, `the %s may not contain spaces unless quoted: "%s"`, field, strings.Trim(quoteWord(v), `"`))
		default:
			return "", usageErr(kind, "the %s may not contain %s: use letters, digits and %s", field, quoteWord(string(r)), strings.Join(strings.Split(nameSymbols, ""), " "))
		}
	}
	name := strings.TrimSpace(b.String())
	switch n := utf8.RuneCountInString(name); {
	case n == 0:
		return "", usageErr(kind, "the %s name is empty", field)
	case n > maxLen:
		return "", usageErr(kind, "the %s name is too long: %d characters, at most %d", field, n, maxLen)
	}
	if defuseBroadcasts(name) != name {
		return "", usageErr(kind, "the %s may not be an @channel, @here or @everyone mention", field)
	}
	return name, nil
}

// cleanReason turns the rest of the line into the reason: Slack sequences
// rewritten, every white space (line breaks, tabs, Unicode spaces) one ASCII
// space, broadcasts defused, trimmed.
func cleanReason(kind cmdKind, raw string) (string, error) {
	if err := refuseInvisible(kind, "reason", raw, true); err != nil {
		return "", err
	}
	v, err := expandSlack(kind, "reason", raw, true)
	if err != nil {
		return "", err
	}
	v = strings.ReplaceAll(v, "\r\n", "\n")
	v = strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return ' '
		}
		return r
	}, v)
	v = strings.TrimSpace(defuseBroadcasts(v))
	if n := utf8.RuneCountInString(v); n > maxReasonLen {
		return "", usageErr(kind, "the reason is too long: %d characters, at most %d", n, maxReasonLen)
	}
	return v, nil
}

// refuseInvisible refuses control characters (white space ones too, unless
// spaceOK) and invisible formatting characters (category Cf: zero-width
// spaces and joiners, bidi overrides and isolates, the BOM, soft hyphens).
func refuseInvisible(kind cmdKind, field, v string, spaceOK bool) error {
	for _, r := range v {
		switch {
		case unicode.IsSpace(r) && (spaceOK || unicode.Is(unicode.Zs, r)):
		case r == '\n' || r == '\r' || r == '\u2028' || r == '\u2029' || r == '\u0085':
			return usageErr(kind, "the %s may not contain a line break", field)
		case unicode.IsControl(r) || unicode.IsSpace(r):
			return usageErr(kind, "the %s may not contain control character U+%04X", field, r)
		case unicode.Is(unicode.Cf, r):
			return usageErr(kind, "the %s may not contain invisible character U+%04X (zero-width or text-direction)", field, r)
		}
	}
	return nil
}

// expandSlack rewrites Slack's <…> sequences and unescapes &amp; &lt; &gt;.
// Special sequences <!…> are refused. In the reason, mentions become plain
// @name / #channel and links "label (url)"; in a name, mentions are refused
// and a link becomes its label. A < without a matching > is plain text.
func expandSlack(kind cmdKind, field, v string, reason bool) (string, error) {
	var b strings.Builder
	for v != "" {
		i := strings.IndexByte(v, '<')
		j := -1
		if i >= 0 {
			j = strings.IndexByte(v[i:], '>')
		}
		if i < 0 || j < 0 {
			b.WriteString(unescapeSlack(v))
			break
		}
		if k := strings.LastIndexByte(v[i:i+j], '<'); k > 0 { // "<a <b>": the first < is plain
			b.WriteString(unescapeSlack(v[:i+k]))
			v = v[i+k:]
			continue
		}
		b.WriteString(unescapeSlack(v[:i]))
		seq := v[i+1 : i+j]
		v = v[i+j+1:]
		target, label, _ := strings.Cut(seq, "|")
		target, label = unescapeSlack(target), unescapeSlack(label)
		switch {
		case strings.HasPrefix(target, "!"):
			return "", refuseSpecial(kind, field, target)
		case strings.HasPrefix(target, "@") || strings.HasPrefix(target, "#"):
			if !reason {
				return "", usageErr(kind, "the %s may not contain a user or channel mention", field)
			}
			if label == "" {
				label = target[1:]
			}
			b.WriteString(target[:1] + strings.TrimLeft(label, "@#"))
		case isURL(target):
			switch {
			case label == "" || label == target || label == strings.TrimPrefix(target, schemeOf(target)):
				b.WriteString(cmp.Or(label, target))
			case reason:
				b.WriteString(label + " (" + target + ")")
			default:
				b.WriteString(label)
			}
		default:
			b.WriteString("<" + seq + ">")
		}
	}
	out := b.String()
	if k := strings.Index(out, "<!"); k >= 0 { // typed literally: arrived as &lt;!…
		return "", refuseSpecial(kind, field, out[k+1:])
	}
	return out, nil
}

func refuseSpecial(kind cmdKind, field, target string) error {
	lower := strings.ToLower(target)
	switch {
	case strings.HasPrefix(lower, "!subteam"):
		return usageErr(kind, "the %s may not contain user-group mentions", field)
	case strings.HasPrefix(lower, "!channel"), strings.HasPrefix(lower, "!here"), strings.HasPrefix(lower, "!everyone"):
		return usageErr(kind, "the %s may not contain @channel/@here/@everyone mentions", field)
	}
	return usageErr(kind, "the %s may not contain Slack special sequences (dates, broadcasts)", field)
}

// schemeOf is the "scheme:" or "scheme://" that starts a URL.
func schemeOf(u string) string {
	i := strings.IndexByte(u, ':')
	if i <= 0 {
		return ""
	}
	for k, r := range u[:i] {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || k > 0 && (r >= '0' && r <= '9' || r == '+' || r == '.' || r == '-')) {
			return ""
		}
	}
	if strings.HasPrefix(u[i:], "://") {
		return u[:i+3]
	}
	return u[:i+1]
}

func isURL(u string) bool { return schemeOf(u) != "" && len(u) > len(schemeOf(u)) }

// unescapeSlack undoes the three escapes Slack applies to message text.
func unescapeSlack(s string) string {
	if !strings.Contains(s, "&") {
		return s
	}
	return strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&").Replace(s)
}

// defuseBroadcasts replaces the @ of @channel, @here and @everyone (any case)
// with the fullwidth ＠ (U+FF20): readable, and never a mention.
func defuseBroadcasts(s string) string {
	if !strings.Contains(s, "@") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '@' && broadcastAt(s[i+1:]) {
			b.WriteString("＠")
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func broadcastAt(s string) bool {
	for _, w := range [...]string{"channel", "here", "everyone"} {
		if len(s) >= len(w) && strings.EqualFold(s[:len(w)], w) {
			return true
		}
	}
	return false
}

// kindOfFirstWord is the command named by the text's first word, or kindHelp.
func kindOfFirstWord(text string) cmdKind {
	i := strings.IndexFunc(strings.TrimLeftFunc(text, unicode.IsSpace), unicode.IsSpace)
	word := strings.TrimLeftFunc(text, unicode.IsSpace)
	if i >= 0 {
		word = word[:i]
	}
	switch strings.ToLower(word) {
	case "dynamodb":
		return kindBackup
	case "emergency", "status", "history", "list", "cancel":
		return cmdKind(strings.ToLower(word))
	}
	return kindHelp
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
