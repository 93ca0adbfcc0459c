// Package fuzzy finds the names closest to one a person typed, for the
// "did you mean …?" hints of the policy parser, the command parser and the
// table group lookups. Every hint ranks by the one rule of Closest.
package fuzzy

import (
	"cmp"
	"slices"
	"strings"
	"unicode/utf8"
)

// Closest returns up to n of candidates close to name, best first, or nil.
//
// Names are compared without regard to case, rune by rune. A candidate is
// close when
//   - its edit distance from name is at most 1 for a name of up to 4 runes,
//     2 for up to 8 and 3 for a longer one, where inserting, deleting or
//     changing a rune or swapping two adjacent runes costs 1 ("ordres" is 1
//     from "orders"); or
//   - it is related: one of the two contains the other, and the shorter has
//     at least 3 runes ("ord" and "archive" for "ordersarchive", "orders2"
//     for "orders").
//
// Close candidates are ranked by distance, then related before unrelated,
// then alphabetically. Repeated candidates count once; an empty name or
// candidate matches nothing.
func Closest(name string, candidates []string, n int) []string {
	key := strings.ToLower(name)
	keyLen := utf8.RuneCountInString(key)
	if n <= 0 || keyLen == 0 {
		return nil
	}
	limit := threshold(keyLen)
	type match struct {
		name, folded string
		dist         int
		related      bool
	}
	var matches []match
	seen := make(map[string]bool, len(candidates))
	for _, c := range candidates {
		if c == "" || seen[c] {
			continue
		}
		seen[c] = true
		folded := strings.ToLower(c)
		m := match{name: c, folded: folded, related: related(key, folded)}
		gap := abs(keyLen - utf8.RuneCountInString(folded))
		switch {
		case m.related:
			// One contains the other: deleting the rest is the shortest way.
			m.dist = gap
		case gap > limit:
			continue // each edit changes the length by at most one
		default:
			if m.dist = editDistance(key, folded); m.dist > limit {
				continue
			}
		}
		matches = append(matches, m)
	}
	slices.SortFunc(matches, func(a, b match) int {
		return cmp.Or(
			cmp.Compare(a.dist, b.dist),
			cmp.Compare(rank(b.related), rank(a.related)),
			strings.Compare(a.folded, b.folded),
			strings.Compare(a.name, b.name),
		)
	})
	if len(matches) == 0 {
		return nil
	}
	out := make([]string, min(n, len(matches)))
	for i := range out {
		out[i] = matches[i].name
	}
	return out
}

// threshold is the largest edit distance still close for a name of n runes:
// one typo in a short word, more in longer ones.
func threshold(n int) int {
	switch {
	case n > 8:
		return 3
	case n > 4:
		return 2
	default:
		return 1
	}
}

// related reports whether one of a and b contains the other and the shorter
// has at least 3 runes.
func related(a, b string) bool {
	short, long := a, b
	if utf8.RuneCountInString(short) > utf8.RuneCountInString(long) {
		short, long = long, short
	}
	return utf8.RuneCountInString(short) >= 3 && strings.Contains(long, short)
}

// editDistance is the optimal-string-alignment distance between a and b, in
// runes: the fewest insertions, deletions, substitutions and swaps of two
// adjacent runes that turn a into b, no rune edited twice.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev2 := make([]int, len(rb)+1) // row i-2
	prev := make([]int, len(rb)+1)  // row i-1
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}

// rank orders related matches first.
func rank(related bool) int {
	if related {
		return 1
	}
	return 0
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
