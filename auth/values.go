package auth

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"

	"go.yaml.in/yaml/v3"
)

// idKind is a set of the identifiers a list accepts.
type idKind int

const (
	idUser    idKind = 1 << iota // U… or W…
	idGroup                      // S… (user group)
	idChannel                    // C… or G…
	idAnyone                     // "*"
)

// resolve follows YAML aliases (*name) to the anchored node.
func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n == nil || n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// describe names what a node is, for "expected …, got …" messages.
func describe(n *yaml.Node) string {
	switch {
	case n == nil || isNull(n):
		return "nothing (null)"
	case n.Kind == yaml.MappingNode:
		return "a mapping"
	case n.Kind == yaml.SequenceNode:
		return "a list"
	case n.Kind != yaml.ScalarNode:
		return "something else"
	}
	switch n.ShortTag() {
	case "!!str":
		return fmt.Sprintf("the string %q", n.Value)
	case "!!bool":
		return "the boolean " + n.Value
	case "!!int", "!!float":
		return "the number " + n.Value
	default:
		return fmt.Sprintf("%s %q (quote it to make it a string)", n.ShortTag(), n.Value)
	}
}

// text returns a string scalar that is not empty, has no leading or trailing
// space and no control characters.
func (p *parser) text(n *yaml.Node, path string) (string, bool) {
	n = resolve(n)
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
		hint := ""
		if n.Kind == yaml.ScalarNode && !isNull(n) {
			hint = fmt.Sprintf(` (write "%s" if it is a name)`, n.Value)
		}
		p.errorf(n.Line, path, "expected a string, got %s%s", describe(n), hint)
		return "", false
	}
	s := n.Value
	switch {
	case s == "":
		p.errorf(n.Line, path, "empty string")
		return "", false
	case strings.TrimSpace(s) != s:
		p.errorf(n.Line, path, "%q starts or ends with spaces", s)
		return "", false
	case strings.ContainsFunc(s, unicode.IsControl):
		p.errorf(n.Line, path, "%q contains control characters", s)
		return "", false
	}
	return s, true
}

func (p *parser) boolean(f field) (bool, bool) {
	n := resolve(f.val)
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" {
		p.errorf(n.Line, f.path, "expected true or false, got %s", describe(n))
		return false, false
	}
	b, err := strconv.ParseBool(n.Value)
	if err != nil {
		p.errorf(n.Line, f.path, "expected true or false, got %q", n.Value)
		return false, false
	}
	return b, true
}

// duration parses a positive Go duration such as 30m or 1h30m.
func (p *parser) duration(f field) (time.Duration, bool) {
	n := resolve(f.val)
	if n.Kind != yaml.ScalarNode || isNull(n) {
		p.errorf(n.Line, f.path, "expected a duration such as 30m, got %s", describe(n))
		return 0, false
	}
	d, err := time.ParseDuration(n.Value)
	if err != nil {
		p.errorf(n.Line, f.path, "invalid duration %q: use a number and a unit, such as 30m or 1h", n.Value)
		return 0, false
	}
	if d <= 0 {
		p.errorf(n.Line, f.path, "duration must be positive, got %s", n.Value)
		return 0, false
	}
	return d, true
}

// seq returns the items of a list. An empty list is an error whose problem
// is emptyHint, unless emptyHint is "".
func (p *parser) seq(f field, emptyHint string) ([]*yaml.Node, bool) {
	n := resolve(f.val)
	if n.Kind != yaml.SequenceNode {
		hint := ""
		if n.Kind == yaml.ScalarNode && !isNull(n) {
			hint = fmt.Sprintf(" (write [%s])", n.Value)
		}
		p.errorf(max(n.Line, f.line), f.path, "expected a list, got %s%s", describe(n), hint)
		return nil, false
	}
	if len(n.Content) == 0 && emptyHint != "" {
		p.errorf(n.Line, f.path, "%s", emptyHint)
		return nil, false
	}
	return n.Content, true
}

// list returns a list of strings checked by valid, which returns the
// normalised value or a problem. Duplicates (after normalising, compared
// without regard to case) are errors. The list is nil if any item is wrong.
func (p *parser) list(f field, emptyHint string, valid func(string) (string, string)) []string {
	items, ok := p.seq(f, emptyHint)
	if !ok {
		return nil
	}
	before := len(p.errs)
	out := make([]string, 0, len(items))
	first := map[string]int{}
	for i, item := range items {
		path := fmt.Sprintf("%s[%d]", f.path, i)
		s, ok := p.text(item, path)
		if !ok {
			continue
		}
		line := resolve(item).Line
		v, problem := valid(s)
		if problem != "" {
			p.errorf(line, path, "%s", problem)
			continue
		}
		key := strings.ToLower(v)
		if prev, dup := first[key]; dup {
			p.errorf(line, path, "duplicate entry %q (first at line %d)", s, prev)
			continue
		}
		first[key] = line
		out = append(out, v)
	}
	if len(p.errs) > before {
		return nil
	}
	return out
}

// ids returns a list of Slack IDs of the given kinds.
func (p *parser) ids(f field, kinds idKind, emptyHint string) []string {
	out := p.list(f, emptyHint, func(s string) (string, string) { return s, idProblem(s, kinds) })
	if len(out) > 1 && kinds&idAnyone != 0 {
		for _, id := range out {
			if id == "*" {
				p.errorf(f.line, f.path, `"*" already allows anyone: remove the other entries`)
				return nil
			}
		}
	}
	return out
}

func (p *parser) tableGroups(f field) []string {
	return p.list(f, "empty list: omit tablegroups to allow every table group of the account",
		func(s string) (string, string) { return s, "" })
}

func (p *parser) levels(f field) []string {
	return p.list(f, "empty list: omit levels to allow full and incremental",
		func(s string) (string, string) {
			switch l := strings.ToLower(s); {
			case l == LevelFull || l == LevelIncremental:
				return l, ""
			case strings.HasPrefix(LevelIncremental, l) && len(l) >= 3:
				return "", fmt.Sprintf("unknown level %q (did you mean %q?)", s, LevelIncremental)
			default:
				return "", fmt.Sprintf("unknown level %q (levels: full, incremental)", s)
			}
		})
}

// validID reports whether s is one of the prefixes followed by at least two
// upper-case letters or digits, the shape of a Slack ID.
func validID(s, prefixes string) bool {
	if len(s) < 3 || !strings.ContainsRune(prefixes, rune(s[0])) {
		return false
	}
	for _, r := range s[1:] {
		if !(r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// idKindOf says which kind of Slack ID s is, or 0.
func idKindOf(s string) idKind {
	switch {
	case s == "*":
		return idAnyone
	case validID(s, "UW"):
		return idUser
	case validID(s, "S"):
		return idGroup
	case validID(s, "CG"):
		return idChannel
	}
	return 0
}

func (k idKind) String() string {
	var names []string
	if k&idUser != 0 {
		names = append(names, "a Slack user ID (U…/W…)")
	}
	if k&idGroup != 0 {
		names = append(names, "a user group ID (S…)")
	}
	if k&idChannel != 0 {
		names = append(names, "a channel ID (C…/G…)")
	}
	if k&idAnyone != 0 {
		names = append(names, `"*"`)
	}
	return strings.Join(names, " or ")
}

// idProblem says what is wrong with s as one of kinds, or "" if nothing.
func idProblem(s string, kinds idKind) string {
	got := idKindOf(s)
	if got&kinds != 0 {
		return ""
	}
	hint := ""
	switch {
	case got == idAnyone:
		return fmt.Sprintf(`"*" (anyone) is not allowed here: expected %s`, kinds)
	case got != 0:
		hint = fmt.Sprintf(" (it looks like %s)", got)
	case strings.HasPrefix(s, "@"):
		hint = " (use the member ID from the profile's ⋮ menu, not the @name)"
	case strings.HasPrefix(s, "#"):
		hint = " (use the channel ID from its details, not the #name)"
	case strings.HasPrefix(s, "<"):
		hint = " (write the bare ID, not a mention)"
	case idKindOf(strings.ToUpper(s))&kinds != 0:
		hint = fmt.Sprintf(" (Slack IDs are upper case: %q)", strings.ToUpper(s))
	}
	return fmt.Sprintf("%q is not %s%s", s, kinds, hint)
}

// channel returns one channel ID (C…/G…), such as audit_channel's.
func (p *parser) channel(f field) string {
	n := resolve(f.val)
	if n.Kind == yaml.SequenceNode {
		p.errorf(n.Line, f.path, "expected one channel ID (C…/G…), got a list")
		return ""
	}
	s, ok := p.text(n, f.path)
	if !ok {
		return ""
	}
	if problem := idProblem(s, idChannel); problem != "" {
		p.errorf(n.Line, f.path, "%s", problem)
		return ""
	}
	return s
}
