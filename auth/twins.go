package auth

import (
	"slices"
	"strings"
)

// twins refuses two accounts on one Commvault client that cover a table
// group in common (an account without tablegroups covers them all) under
// different rules (approvers, breakglass, channels, levels,
// require_reason): whoever may use the weaker one would back that table
// group up without the stronger one's approval, channel or level. The
// error is on the second account's line and names the first's.
func (p *parser) twins(accounts []*Account) {
	for i, a := range accounts {
		for _, b := range accounts[:i] {
			if !strings.EqualFold(a.Client, b.Client) {
				continue
			}
			covered, ok := overlap(b.TableGroups, a.TableGroups)
			if !ok {
				continue
			}
			if diff := differences(b, a); len(diff) > 0 {
				p.errorf(p.lines[a], "accounts."+a.Name,
					"account %s and account %s (line %d) both cover %s of Commvault client %s, with different %s: "+
						"whoever may use one of them would skip the other's rules; give them the same rules, or table groups that do not overlap",
					a.Name, b.Name, p.lines[b], covered, a.Client, strings.Join(diff, ", "))
			}
		}
	}
}

// overlap says which table groups two tablegroups lists have in common
// (empty: every table group), as words, and whether they have any. A name
// matches itself in INSTANCE/NAME form: it may be the same table group.
func overlap(x, y []string) (string, bool) {
	switch {
	case len(x) == 0 && len(y) == 0:
		return "every table group", true
	case len(x) == 0:
		return tableGroupWords(y), true
	case len(y) == 0:
		return tableGroupWords(x), true
	}
	var common []string
	for _, a := range x {
		if slices.ContainsFunc(y, func(b string) bool { return sameTableGroup(a, b) }) {
			common = append(common, a)
		}
	}
	return tableGroupWords(common), len(common) > 0
}

func sameTableGroup(a, b string) bool {
	base := func(s string) string { _, name, _ := strings.Cut(s, "/"); return name }
	return strings.EqualFold(a, b) || !strings.Contains(a, "/") && strings.EqualFold(a, base(b)) ||
		!strings.Contains(b, "/") && strings.EqualFold(base(a), b)
}

func tableGroupWords(names []string) string {
	if len(names) == 1 {
		return "table group " + quote(names[0])
	}
	quoted := make([]string, len(names))
	for i, n := range names {
		quoted[i] = quote(n)
	}
	return "table groups " + strings.Join(quoted, ", ")
}

// differences names the rules on which a and b differ.
func differences(a, b *Account) []string {
	var out []string
	for _, r := range []struct {
		key  string
		x, y []string
	}{
		{"approvers", a.Approvers, b.Approvers},
		{"breakglass", a.Breakglass, b.Breakglass},
		{"channels", a.Channels, b.Channels},
		{"levels", levelsOf(a), levelsOf(b)},
	} {
		if !sameSet(r.x, r.y) {
			out = append(out, r.key)
		}
	}
	if a.RequireReason != b.RequireReason {
		out = append(out, "require_reason")
	}
	return out
}

// levelsOf is the levels an account allows: none listed is both.
func levelsOf(a *Account) []string {
	if len(a.Levels) == 0 {
		return []string{LevelFull, LevelIncremental}
	}
	return a.Levels
}

func sameSet(x, y []string) bool {
	x, y = slices.Sorted(slices.Values(x)), slices.Sorted(slices.Values(y))
	return slices.Equal(x, y)
}
